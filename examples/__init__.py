"""Example host applications that use tidings the way a real application would."""
