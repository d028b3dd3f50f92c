"""Small shared helpers: did-you-mean suggestions, the clock, dotted spec paths."""
