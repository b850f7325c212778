"""Access and portability: per-system export tasks, the bundle assembly, release and download."""
