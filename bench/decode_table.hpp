// llmt_gemm_bench's decode table: the GEMMs of one decode step of Llama-3-8B and of
// Qwen3-30B-A3B's experts at m = 1, 4, 16 and 64 rows, through the engine's path (the CPU
// backend's gemm: the small-m kernel or CBLAS) and through CBLAS alone, each against its read
// floor (the call's bytes over the read ceiling the engine measures, with the same threads),
// with an anchor from code that shares nothing with the engine (bench/read_anchor.c).
#pragma once

namespace llmt::bench {

struct DecodeTableOptions {
  int threads = 1;            // threads per rank, as --threads-per-rank
  int reps = 5;               // timed passes per GEMM; the best counts
  double min_read_share = 0;  // > 0: fail when a GEMM of m <= 16 reads slower than this share of the ceiling
};

// Prints the table; false when min_read_share is set and the engine's path missed it.
bool run_decode_table(const DecodeTableOptions& options);

}  // namespace llmt::bench
