"""interp.benchmarks: runnable benchmark scripts (speed and memory, family training and accuracy, callback
overhead); `interp benchmark ...` or `python benchmarks/<name>.py`. Results: JSON plus a markdown table."""
