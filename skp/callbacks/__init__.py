"""Lightning callbacks skp-train attaches to every run."""
