"""Sequence models: Transformer attention, image captioning, seq2seq arithmetic."""
