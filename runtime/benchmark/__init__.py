"""``facert bench``: latency and accuracy over a declared matrix, one JSON document, and the
comparison with a baseline that fails on a regression (:mod:`facert.benchmark.compare`)."""
