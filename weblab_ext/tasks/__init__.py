"""Background tasks (runtime layer): registry, ``WebLabTask``, workers."""
