"""kdedge: distil transformer text classifiers into tiny students for CPUs and edge devices."""

__version__ = "0.1.0"
