"""Generative models: DCGAN, VAE and autoencoder, and the LeNet classifier behind their metrics."""
