// The JSON Schema of a results file (results_schema of reports/json_schema.hpp).
#include "reports/json_schema.hpp"

namespace llmt {

using nlohmann::json;

namespace {

// docs/results.schema.json, verbatim (tests/test_results_validation.cpp keeps the two equal).
const char* const kResultsSchemaText = R"schema({
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "$id": "https://github.com/llmthreads/llmthreads/docs/results.schema.json",
  "title": "llmthreads results file (schema_version 3; versions 1 and 2 also validate)",
  "description": "What `llmthreads bench --json` writes and `compare`, `report` and `bench --resume` read. llmthreads checks every file it reads against this schema (reports/results_schema.cpp embeds the same text; a unit test keeps the two equal), then checks what no schema says: see docs/ci.md, 'What makes a results file unusable'.",
  "type": "object",
  "required": ["schema_version", "run", "configurations"],
  "properties": {
    "schema_version": {"type": "integer", "minimum": 1, "maximum": 1000000},
    "run": {"$ref": "#/$defs/run"},
    "configurations": {"type": "array", "items": {"$ref": "#/$defs/configuration"}},
    "summary": {"$ref": "#/$defs/summary"}
  },
  "$defs": {
    "ms": {"description": "a time in milliseconds", "type": "number", "minimum": 0, "maximum": 1e9},
    "ms_row": {"type": "array", "items": {"$ref": "#/$defs/ms"}},
    "busy_ms": {"description": "an iteration less its synchronisation and transfer: may round a hair below 0", "type": "number", "minimum": -1e-6, "maximum": 1e9},
    "count": {"type": "integer", "minimum": 0, "maximum": 2147483647},
    "positive": {"type": "integer", "minimum": 1, "maximum": 2147483647},
    "bytes": {"type": "integer", "minimum": 0},
    "amount": {"description": "a non-negative finite quantity (calls, bytes, flops, bandwidth)", "type": "number", "minimum": 0},
    "texts": {"type": "array", "items": {"type": "string"}},
    "string_map": {"type": "object", "additionalProperties": {"type": "string"}},
    "allocated": {
      "description": "peak bytes the rank's allocator handed out, per kind and in total",
      "type": "object",
      "required": ["weights", "kv_cache", "activations_peak", "peak_total"],
      "properties": {
        "weights": {"$ref": "#/$defs/bytes"}, "kv_cache": {"$ref": "#/$defs/bytes"}, "activations_peak": {"$ref": "#/$defs/bytes"},
        "communication_peak": {"$ref": "#/$defs/bytes"}, "peak_total": {"$ref": "#/$defs/bytes"},
        "device_used": {"type": ["null", "integer"], "minimum": 0}
      }
    },
    "run": {
      "type": "object",
      "properties": {
        "tool": {"type": "string"}, "version": {"type": "string"}, "git_commit": {"type": "string"},
        "timestamp": {"type": "string"}, "command_line": {"type": "string"}, "backend": {"type": "string"},
        "device": {"type": "string"}, "blas": {"type": "string"}, "dtype": {"type": "string"},
        "host": {"type": "string"}, "cpu_model": {"type": "string"}, "os": {"type": "string"},
        "cpu_governor": {"type": "string"},
        "logical_cpus": {"$ref": "#/$defs/count"}, "affinity_cpus": {"$ref": "#/$defs/count"},
        "max_ranks": {"$ref": "#/$defs/count"}, "memory_total_bytes": {"$ref": "#/$defs/bytes"},
        "load_average_1m": {"$ref": "#/$defs/amount"}, "cpu_busy_at_start": {"type": "number"},
        "warmup": {"$ref": "#/$defs/count"}, "iterations": {"$ref": "#/$defs/count"},
        "seed": {"type": "integer", "minimum": 0}, "overlap_chunks": {"$ref": "#/$defs/count"},
        "threads_per_rank": {"$ref": "#/$defs/count"},
        "replica_weights": {"type": "string"}, "inject_delay": {"type": "string"},
        "measurement": {
          "type": "object",
          "properties": {
            "mode": {"enum": ["fixed", "adaptive"]}, "target_rse": {"$ref": "#/$defs/amount"},
            "min_iters": {"$ref": "#/$defs/count"}, "max_iters": {"$ref": "#/$defs/count"},
            "max_time_s": {"$ref": "#/$defs/amount"}
          }
        },
        "cpu_mhz": {"$ref": "#/$defs/amount"}, "compiler": {"type": "string"},
        "libraries": {"$ref": "#/$defs/string_map"},
        "ensemble_weights": {"type": "array", "items": {"$ref": "#/$defs/amount"}},
        "resumed_from": {"type": "string"}, "emulated": {"type": "boolean"}, "attention": {"type": "string"},
        "routing": {"type": "string"},
        "weights": {"type": "string"},
        "ceilings": {
          "type": ["null", "object"],
          "required": ["bandwidth_gbps", "gemm_tflops"],
          "properties": {
            "bandwidth_gbps": {"$ref": "#/$defs/amount"}, "gemm_tflops": {"$ref": "#/$defs/amount"},
            "source": {"type": "string"}, "dtype": {"type": "string"}, "device": {"type": "string"},
            "cache_bandwidth_gbps": {"$ref": "#/$defs/amount"}, "cache_bytes": {"$ref": "#/$defs/amount"},
            "bandwidth_probe": {"type": "string"}
          }
        },
        "gpu": {"$ref": "#/$defs/string_map"},
        "model": {
          "type": "object",
          "properties": {"name": {"type": "string"}, "layers": {"$ref": "#/$defs/count"}, "notes": {"$ref": "#/$defs/texts"}}
        },
        "warnings": {"$ref": "#/$defs/texts"},
        "launch": {
          "type": "object",
          "required": ["mode", "launcher", "world_size", "hosts"],
          "properties": {
            "mode": {"enum": ["processes"]}, "launcher": {"type": "string"},
            "world_size": {"$ref": "#/$defs/count"},
            "hosts": {
              "type": "array",
              "items": {
                "type": "object",
                "required": ["host", "ranks"],
                "properties": {
                  "host": {"type": "string"}, "ranks": {"type": "array", "items": {"$ref": "#/$defs/count"}},
                  "environment": {"$ref": "#/$defs/string_map"}
                }
              }
            }
          }
        }
      }
    },
    "configuration": {
      "type": "object",
      "required": ["id", "strategy", "ranks", "layout", "sync", "merge", "workload", "status"],
      "dependentRequired": {"samples": ["metrics"]},
      "properties": {
        "id": {"type": "string", "minLength": 1},
        "strategy": {"type": "string", "minLength": 1},
        "ranks": {"$ref": "#/$defs/count"},
        "layout": {
          "type": "object",
          "required": ["tp", "pp", "dp"],
          "properties": {"tp": {"$ref": "#/$defs/count"}, "pp": {"$ref": "#/$defs/count"}, "dp": {"$ref": "#/$defs/count"}, "ep": {"$ref": "#/$defs/positive"}, "label": {"type": "string"}}
        },
        "dispatch": {"enum": ["alltoall", "allgather", null]},
        "microbatches": {"$ref": "#/$defs/positive"},
        "sync": {"enum": ["blocking", "overlap", "param-server"]},
        "merge": {"enum": ["concat", "sum", "mean"]},
        "workload": {
          "type": "object",
          "required": ["batch", "prompt", "gen"],
          "properties": {"batch": {"$ref": "#/$defs/positive"}, "prompt": {"$ref": "#/$defs/positive"}, "gen": {"$ref": "#/$defs/positive"}}
        },
        "traffic": {
          "type": ["null", "object"],
          "description": "request-list workloads (schema_version 3): the requests in full, batching and balancing",
          "required": ["requests", "source", "batching", "slots", "balance", "request_list"],
          "properties": {
            "requests": {"type": "string", "minLength": 1},
            "source": {"type": "string"},
            "batching": {"enum": ["static", "continuous"]},
            "slots": {"$ref": "#/$defs/positive"},
            "token_budget": {"type": "integer", "minimum": 0},
            "prefill_chunk": {"type": "integer", "minimum": 0},
            "balance": {"enum": ["round-robin", "shortest-queue", "least-tokens"]},
            "request_list": {
              "type": "array", "minItems": 1,
              "items": {"type": "array", "minItems": 3, "maxItems": 3, "items": {"type": "number", "minimum": 0}}
            }
          }
        },
        "status": {"enum": ["ok", "failed", "skipped"]},
        "reason": {"type": "string"},
        "notes": {"$ref": "#/$defs/texts"},
        "replica_weights": {"enum": ["shared", "private"]},
        "cuda_graphs": {"type": "boolean"},
        "attention": {
          "type": "array",
          "items": {"type": "object", "required": ["pass", "kernel"], "properties": {"pass": {"type": "string"}, "kernel": {"type": "string"}, "why": {"type": "string"}}}
        },
        "warmup": {"$ref": "#/$defs/count"},
        "iterations": {"$ref": "#/$defs/count"},
        "setup_s": {"$ref": "#/$defs/amount"},
        "measurement": {
          "type": "object",
          "properties": {
            "mode": {"enum": ["fixed", "adaptive"]}, "samples": {"$ref": "#/$defs/count"},
            "target_rse": {"$ref": "#/$defs/amount"}, "achieved_rse": {"type": ["null", "number"], "minimum": 0},
            "target_met": {"type": "boolean"}, "stop_reason": {"type": "string"}, "outliers": {"$ref": "#/$defs/count"}
          }
        },
        "samples": {
          "type": "object",
          "required": ["e2e_ms", "ttft_ms", "decode_step_ms", "per_rank"],
          "properties": {
            "e2e_ms": {"$ref": "#/$defs/ms_row"}, "ttft_ms": {"$ref": "#/$defs/ms_row"}, "decode_step_ms": {"$ref": "#/$defs/ms_row"},
            "per_rank": {
              "type": "object",
              "required": ["iteration_ms", "busy_ms", "sync_ms", "sync_total_ms"],
              "properties": {
                "iteration_ms": {"type": "array", "items": {"$ref": "#/$defs/ms_row"}},
                "busy_ms": {"type": "array", "items": {"type": "array", "items": {"$ref": "#/$defs/busy_ms"}}},
                "sync_ms": {"type": "array", "items": {"$ref": "#/$defs/ms_row"}},
                "sync_total_ms": {"type": "array", "items": {"$ref": "#/$defs/ms_row"}},
                "transfer_ms": {"type": "array", "items": {"$ref": "#/$defs/ms_row"}}
              }
            }
          }
        },
        "metrics": {
          "type": "object",
          "required": ["sync"],
          "properties": {
            "sync": {
              "type": "object",
              "properties": {
                "bytes_per_iteration": {"$ref": "#/$defs/amount"},
                "collectives": {
                  "type": "array",
                  "items": {
                    "type": "object",
                    "description": "every collective and transfer of a kind; version 1 files also have algbw_gbps and busbw_gbps here (with the straggler wait, ignored)",
                    "required": ["op", "group", "group_size", "calls", "bytes", "ms"],
                    "properties": {
                      "op": {"type": "string"}, "group": {"type": "string"}, "group_size": {"$ref": "#/$defs/positive"},
                      "category": {"type": "string"}, "calls": {"$ref": "#/$defs/amount"}, "bytes": {"$ref": "#/$defs/amount"},
                      "ms": {"$ref": "#/$defs/ms"}, "algbw_gbps": {"$ref": "#/$defs/amount"}, "busbw_gbps": {"$ref": "#/$defs/amount"},
                      "bytes_per_rank": {"description": "bytes per iteration each rank of the configuration moved (0: not in the group); version 2", "type": "array", "items": {"$ref": "#/$defs/amount"}}
                    }
                  }
                },
                "bus_bandwidth": {
                  "description": "version 2: per pass, collective operation, group and message size; a call's time is the least over its group's ranks",
                  "type": "array",
                  "items": {
                    "type": "object",
                    "required": ["pass", "op", "group", "group_size", "message_bytes", "calls", "ms", "algbw_gbps", "busbw_gbps"],
                    "properties": {
                      "pass": {"enum": ["prefill", "decode"]}, "op": {"type": "string"}, "group": {"type": "string"},
                      "group_size": {"$ref": "#/$defs/positive"}, "message_bytes": {"$ref": "#/$defs/amount"},
                      "calls": {"$ref": "#/$defs/amount"}, "ms": {"$ref": "#/$defs/ms"},
                      "algbw_gbps": {"$ref": "#/$defs/amount"}, "busbw_gbps": {"$ref": "#/$defs/amount"}
                    }
                  }
                }
              }
            },
            "memory": {
              "type": "array",
              "items": {
                "description": "one entry per rank; version 1 files have measured (with device_used) where version 2 has allocated and device_used_at_end",
                "type": "object",
                "required": ["predicted"],
                "properties": {
                  "predicted": {
                    "type": "object",
                    "required": ["weights", "kv_cache", "activations"],
                    "properties": {"weights": {"$ref": "#/$defs/bytes"}, "kv_cache": {"$ref": "#/$defs/bytes"}, "activations": {"$ref": "#/$defs/bytes"}, "communication": {"$ref": "#/$defs/bytes"}, "total": {"$ref": "#/$defs/bytes"}}
                  },
                  "allocated": {"$ref": "#/$defs/allocated"},
                  "device_used_at_end": {"type": ["null", "integer"], "minimum": 0},
                  "device_used_max_of_samples": {"type": ["null", "integer"], "minimum": 0},
                  "device_used_samples": {"$ref": "#/$defs/count"},
                  "measured": {"$ref": "#/$defs/allocated"}
                }
              }
            },
            "memory_pools": {
              "description": "version 2: per memory pool, the ranks' allocated bytes beside the measured peak (host: the process's RSS high-water mark; GPUs: the largest sample of the device's bytes in use, or in older files its bytes in use at the end; process mode: one pool per process, measured by that process)",
              "type": "array",
              "items": {
                "type": "object",
                "required": ["pool", "ranks", "allocated_bytes", "measured_peak_bytes", "measured_by"],
                "properties": {
                  "pool": {"type": "string"}, "ranks": {"type": "array", "items": {"$ref": "#/$defs/count"}},
                  "allocated_bytes": {"$ref": "#/$defs/bytes"}, "measured_peak_bytes": {"$ref": "#/$defs/bytes"},
                  "measured_by": {"enum": ["process_rss_hwm_since_configuration_start", "process_rss_hwm_since_process_start", "device_used_max_of_samples", "device_used_at_end"]},
                  "rss_at_start_bytes": {"type": ["null", "integer"], "minimum": 0},
                  "untracked_bytes": {"type": "integer"}
                }
              }
            },
            "pipeline": {
              "type": "object",
              "properties": {
                "stages": {"$ref": "#/$defs/positive"}, "microbatches": {"$ref": "#/$defs/positive"},
                "bubble_fraction": {"type": "number"},
                "textbook_bubble_fraction": {"type": "number", "minimum": 0, "maximum": 1},
                "per_stage": {
                  "type": "array",
                  "items": {
                    "type": "object",
                    "required": ["stage", "layers", "busy_ms", "transfer_ms"],
                    "properties": {
                      "stage": {"$ref": "#/$defs/count"},
                      "layers": {"type": "array", "minItems": 2, "maxItems": 2, "items": {"$ref": "#/$defs/count"}},
                      "busy_ms": {"$ref": "#/$defs/busy_ms"}, "transfer_ms": {"$ref": "#/$defs/ms"}, "sync_ms": {"$ref": "#/$defs/ms"}
                    }
                  }
                }
              }
            },
            "floor": {
              "type": ["null", "object"],
              "required": ["ttft_ms", "decode_step_ms", "e2e_ms", "ttft_of_floor", "decode_step_of_floor", "e2e_of_floor"],
              "properties": {
                "ttft_ms": {"$ref": "#/$defs/ms"}, "decode_step_ms": {"$ref": "#/$defs/ms"}, "e2e_ms": {"$ref": "#/$defs/ms"},
                "ttft_of_floor": {"$ref": "#/$defs/amount"}, "decode_step_of_floor": {"$ref": "#/$defs/amount"}, "e2e_of_floor": {"$ref": "#/$defs/amount"}
              }
            },
            "traffic": {
              "type": ["null", "object"],
              "description": "request-list workloads: per-request latencies, rates, replicas, balance, slot use",
              "required": ["requests", "request_count", "per_request_ms", "rates", "replicas", "balance_ratio",
                           "step_balance_ratio", "useful_fraction", "samples"],
              "properties": {
                "requests": {"type": "string"},
                "request_count": {"$ref": "#/$defs/positive"},
                "slo": {"type": "string"},
                "balance_ratio": {"type": "number", "minimum": 0, "maximum": 1},
                "step_balance_ratio": {"type": "number", "minimum": 0, "maximum": 1},
                "useful_fraction": {
                  "type": "object",
                  "required": ["decode", "prefill"],
                  "properties": {
                    "decode": {"type": "number", "minimum": 0, "maximum": 1},
                    "prefill": {"type": "number", "minimum": 0, "maximum": 1}
                  }
                },
                "replicas": {
                  "type": "array",
                  "items": {
                    "type": "object",
                    "required": ["replica", "requests", "steps", "tokens", "busy_ms", "idle_ms"],
                    "properties": {
                      "replica": {"type": "integer", "minimum": 0}, "requests": {"type": "integer", "minimum": 0},
                      "steps": {"$ref": "#/$defs/amount"}, "tokens": {"$ref": "#/$defs/amount"},
                      "busy_ms": {"$ref": "#/$defs/ms"}, "idle_ms": {"type": "number"}
                    }
                  }
                },
                "samples": {"type": "array", "items": {"type": "array", "minItems": 11, "maxItems": 11}}
              }
            },
            "moe": {
              "type": ["null", "object"],
              "description": "mixture-of-experts models only: tokens per expert per layer, balance, MoE time",
              "required": ["routing", "tokens_per_expert", "expert_balance", "worst_layer_balance", "time_ms"],
              "properties": {
                "routing": {"type": "string"},
                "tokens_per_expert": {"type": "array", "items": {"type": "array", "items": {"$ref": "#/$defs/bytes"}}},
                "expert_balance": {"type": "number", "minimum": 0, "maximum": 1},
                "worst_layer_balance": {"type": "number", "minimum": 0, "maximum": 1},
                "ep_ranks": {"$ref": "#/$defs/positive"},
                "tokens_per_ep_rank": {"type": "array", "items": {"$ref": "#/$defs/bytes"}},
                "ep_balance": {"type": "number", "minimum": 0, "maximum": 1},
                "worst_layer_ep_balance": {"type": "number", "minimum": 0, "maximum": 1},
                "ep_balance_by_pass": {
                  "type": "object",
                  "required": ["prefill", "decode"],
                  "properties": {
                    "prefill": {"type": "number", "minimum": 0, "maximum": 1},
                    "decode": {"type": "number", "minimum": 0, "maximum": 1}
                  }
                },
                "routing_agreement": {"type": "number", "minimum": 0, "maximum": 1},
                "exchange_bytes_per_iteration": {"$ref": "#/$defs/amount"},
                "time_ms": {
                  "type": "object",
                  "required": ["router", "dispatch", "experts", "combine"],
                  "properties": {
                    "router": {"$ref": "#/$defs/ms"}, "dispatch": {"$ref": "#/$defs/ms"},
                    "experts": {"$ref": "#/$defs/ms"}, "combine": {"$ref": "#/$defs/ms"},
                    "exchange": {"$ref": "#/$defs/ms"}, "exchange_transfer": {"$ref": "#/$defs/ms"},
                    "exchange_wait": {"$ref": "#/$defs/ms"}
                  }
                }
              }
            },
            "phases": {"type": "array", "items": {"$ref": "#/$defs/phase"}}
          }
        },
        "verification": {
          "type": "object",
          "required": ["checked", "passed"],
          "properties": {
            "checked": {"type": "boolean"}, "passed": {"type": "boolean"},
            "max_abs_error": {"type": ["null", "number"], "minimum": 0}, "max_rel_error": {"type": ["null", "number"], "minimum": 0},
            "tolerance": {"$ref": "#/$defs/amount"}, "elements": {"$ref": "#/$defs/bytes"}, "note": {"type": "string"},
            "noise_floor": {
              "type": "object",
              "required": ["rel_error", "min", "factor", "source"],
              "properties": {
                "rel_error": {"$ref": "#/$defs/amount"}, "min": {"$ref": "#/$defs/amount"},
                "factor": {"$ref": "#/$defs/amount"}, "source": {"type": "string"},
                "cap": {"$ref": "#/$defs/amount"}, "trusted": {"type": "boolean"}
              }
            },
            "error_over_floor": {"type": ["null", "number"], "minimum": 0},
            "reference": {
              "type": "object",
              "required": ["computed_by", "peak_bytes"],
              "properties": {"computed_by": {"type": "string"}, "peak_bytes": {"$ref": "#/$defs/bytes"}}
            },
            "positions": {"$ref": "#/$defs/count"},
            "top1": {
              "type": "object",
              "required": ["agreement", "near_ties", "mismatches"],
              "properties": {
                "agreement": {"type": "number", "minimum": 0, "maximum": 1},
                "near_ties": {"$ref": "#/$defs/count"}, "mismatches": {"$ref": "#/$defs/count"}
              }
            },
            "last_iteration": {
              "type": "object",
              "required": ["step", "max_rel_error"],
              "properties": {"step": {"$ref": "#/$defs/count"}, "max_rel_error": {"type": ["null", "number"], "minimum": 0}}
            }
          }
        }
      }
    },
    "phase": {
      "type": "object",
      "required": ["path", "category"],
      "properties": {
        "path": {"type": "string", "minLength": 1}, "category": {"type": "string", "minLength": 1},
        "detail": {"type": "string"}, "op": {"type": "string"}, "group": {"type": "string"},
        "group_size": {"$ref": "#/$defs/positive"}, "ranks": {"$ref": "#/$defs/count"},
        "calls": {"$ref": "#/$defs/amount"}, "ms": {"$ref": "#/$defs/ms"}, "ms_max_rank": {"$ref": "#/$defs/ms"},
        "bytes": {"$ref": "#/$defs/amount"}, "timing": {"enum": ["eager", "eager_sample"]},
        "work": {
          "type": "object",
          "required": ["flops", "bytes", "floor_ms"],
          "properties": {"flops": {"$ref": "#/$defs/amount"}, "bytes": {"$ref": "#/$defs/amount"}, "floor_ms": {"type": ["null", "number"], "minimum": 0}, "of_floor": {"type": ["null", "number"], "minimum": 0},
                         "bound": {"enum": ["compute", "memory", "cache", "none"]}, "below_floor": {"type": "boolean"}}
        }
      }
    },
    "summary": {
      "type": "object",
      "required": ["ranking"],
      "properties": {
        "objective": {"type": "string"}, "interrupted": {"type": "boolean"}, "complete": {"type": "boolean"},
        "ranking": {"description": "single models only", "type": "array", "items": {"$ref": "#/$defs/ranking_row"}},
        "ensemble_ranking": {"description": "optional (absent in older files): merge-mean ensembles, ranked apart", "type": "array", "items": {"$ref": "#/$defs/ranking_row"}}
      }
    },
    "ranking_row": {
      "type": "object",
      "required": ["workload", "ranks", "best", "e2e_ms_median", "speedup", "efficiency"],
      "properties": {
        "workload": {"type": "string"}, "ranks": {"$ref": "#/$defs/count"}, "candidates": {"$ref": "#/$defs/count"},
        "best": {"type": "string"}, "e2e_ms_median": {"$ref": "#/$defs/ms"},
        "output_tokens_per_s": {"$ref": "#/$defs/amount"}, "peak_bytes": {"$ref": "#/$defs/amount"},
        "speedup": {"type": ["null", "number"], "minimum": 0}, "efficiency": {"type": ["null", "number"], "minimum": 0},
        "ensemble": {"type": "boolean"}, "members": {"$ref": "#/$defs/positive"},
        "e2e_ms_interval": {"$ref": "#/$defs/interval"},
        "baseline": {"type": ["null", "string"]}, "baseline_e2e_ms_median": {"type": ["null", "number"], "minimum": 0, "maximum": 1e9},
        "baseline_e2e_ms_interval": {"$ref": "#/$defs/interval"},
        "speedup_interval": {"$ref": "#/$defs/interval"}, "efficiency_interval": {"$ref": "#/$defs/interval"},
        "superlinear": {
          "type": ["null", "object"],
          "required": ["cause", "why"],
          "properties": {"cause": {"enum": ["noise", "working_set", "slow_baseline"]}, "why": {"type": "string"}}
        }
      }
    },
    "interval": {
      "description": "[low, high] with the chance that it covers the true value (exact for a median's order statistics, a lower bound for a ratio); null where there is none",
      "type": ["null", "object"],
      "required": ["low", "high", "confidence"],
      "properties": {"low": {"$ref": "#/$defs/amount"}, "high": {"$ref": "#/$defs/amount"}, "confidence": {"type": "number", "minimum": 0, "maximum": 1}}
    }
  }
}
)schema";

}  // namespace

const json& results_schema() {
  static const json schema = json::parse(kResultsSchemaText);
  return schema;
}

}  // namespace llmt
