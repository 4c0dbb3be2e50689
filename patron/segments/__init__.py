"""Segments: the segment language (grammar, AST, compiler) and the live preview."""
