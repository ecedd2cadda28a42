"""Shared building blocks of the topics: attention and Transformer blocks, recurrent cells, image
grids and GIFs, 2-D projections. Topics import these; blocks never import a topic."""
