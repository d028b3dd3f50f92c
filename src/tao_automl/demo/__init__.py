"""Built-in demo trainers that follow the TAO container contract (``<tool> train -e <spec>``)."""
