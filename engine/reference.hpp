// The streamed reference: the logits every configuration is verified against, from one causal
// pass over each sequence's prompt and generated tokens (decoding is teacher-forced, so every
// token is known before the run), one layer at a time: a layer's weights are made, applied to
// every position and freed before the next. The pass holds one layer's weights (or one block
// of the vocabulary) plus activations and logits, whatever the model's depth, so a model that
// no single device can hold is still verified. docs/metrics.md, "Verification".
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/backend.hpp"
#include "engine/moe.hpp"
#include "engine/plan.hpp"
#include "engine/runner.hpp"
#include "engine/transformer.hpp"
#include "engine/verify.hpp"
#include "model/model.hpp"

namespace llmt {

// Bytes the streamed pass allocates, by what they hold; the pass allocates exactly these.
struct RequestList;  // engine/workload.hpp

struct StreamedMemory {
  std::size_t weights = 0;      // the largest block held at once: one layer, or one vocabulary block
  std::size_t activations = 0;  // hidden states, projections and one layer's keys and values, every position
  std::size_t logits = 0;       // every step's logits, [gen][batch][vocab]
  std::size_t total() const { return weights + activations + logits; }
};
// The positions whose logits a streamed pass returns, in groups (one StepLogits entry each) of
// (sequence, position) pairs, over a pass of `pass.batch` sequences of `pass.context()` positions:
// a uniform workload's steps ([step][sequence]), or a request list's requests
// (engine/traffic.hpp, request_logit_positions).
struct LogitPositions {
  Workload pass;
  std::vector<std::vector<std::pair<int, int>>> groups;
  std::size_t count() const;
  static LogitPositions of_workload(const Workload& w);
};

StreamedMemory predict_streamed_memory(const ModelConfig& model, const Workload& workload, DType dtype);
StreamedMemory predict_streamed_memory(const ModelConfig& model, const LogitPositions& positions, DType dtype);

struct StreamedLogits {
  StepLogits logits;             // [step][batch * vocab], step 0 the last prompt position
  std::size_t peak_bytes = 0;    // the backend's tracked peak during the pass
  StreamedMemory predicted;
  double seconds = 0;
  std::shared_ptr<const ExpertChoices> routes;  // MoE: every token's experts (router routing)
};

// The pass on `backend`, in its dtype (fp32 for the reference). `member` selects an ensemble
// member's weights, as ExecutionOptions::member_offset does; `exec.checkpoint` is read when set.
StreamedLogits streamed_logits(const ModelConfig& model, const Workload& workload, const ExecutionOptions& exec,
                               int member, Backend& backend);
StreamedLogits streamed_logits(const ModelConfig& model, const LogitPositions& positions, const ExecutionOptions& exec,
                               int member, Backend& backend);

// The references of a sweep, per workload and ensemble member (only the current workload's are
// kept): the streamed pass in fp32 on the run's backend gives the logits; the one-rank
// configuration in the run's dtype gives the noise floor (or, where it does not fit, the streamed
// pass in that dtype). A `mean` merge is checked against the weighted mean of its members.
class ReferenceSet {
 public:
  using Progress = std::function<void(const std::string&)>;
  ReferenceSet(const ModelConfig& model, const RunOptions& options, Progress progress = {});

  // Throws Error when a reference cannot be computed.
  const VerificationReference& for_point(const ConfigPoint& point);

 private:
  struct Member {
    StepLogits fp32, run_dtype;
    std::shared_ptr<const ExpertChoices> routes;
    std::string floor_source;
    std::size_t peak_bytes = 0;
  };
  const Member& member(int k);
  VerificationReference combine(const std::vector<const Member*>& members) const;

  const ModelConfig& model_;
  const RunOptions& options_;
  Progress progress_;
  std::string key_;  // the workload's label, or the request list's
  Workload workload_{0, 0, 0};
  std::shared_ptr<const RequestList> traffic_;  // a request-list workload's requests
  std::map<int, Member> members_;
  std::map<int, VerificationReference> references_;  // by replicas: 1 for a single model
};

}  // namespace llmt
