"""sweepfirst: sweep first, then run production seeds, then compare with statistics."""

__version__ = "0.1.0"
