"""Per-package candidate sources behind one protocol (:class:`attnlock.resolver.candidates.BuildSource`)."""
