"""Built-in adapters, one subpackage or module per store family.

Adapters never import each other and the core never imports them: the
registry loads them by name when their scheme is first used.
"""
