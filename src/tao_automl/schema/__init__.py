"""TAO ``*.schema.json`` + ``automl_hyperparameters`` + ``custom_param_ranges`` -> :class:`SearchSpace`."""
