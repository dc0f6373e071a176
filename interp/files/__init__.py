"""Files a user reads and writes: FASTA, alignments, RR, pairs CSV and .npz (`io`), the per-record output
files of the command line (`outputs`) and the figures (`plotting`)."""
