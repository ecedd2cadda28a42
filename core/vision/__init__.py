"""Vision: convolutional networks, the Gumbel-softmax, Vision Transformers, segmentation."""
