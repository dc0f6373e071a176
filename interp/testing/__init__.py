"""For tests, benchmarks and examples only (the library never imports it): tiny random-weight stand-ins
built from the families' real classes (`stand_ins`) and where a checkout's shared data lives (`data`)."""
