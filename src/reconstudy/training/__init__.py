"""Training of the DL reconstruction models, kept apart from the models themselves."""
