"""Pure, typed parsing functions and the thin PyFlink wrappers over them."""
