#include "engine/scheduler.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>

#include "model/error.hpp"

namespace llmt {

std::string_view batching_mode_name(BatchingMode m) {
  return m == BatchingMode::static_batches ? "static" : "continuous";
}

std::optional<BatchingMode> parse_batching_mode(std::string_view s) {
  for (BatchingMode m : kAllBatchingModes)
    if (s == batching_mode_name(m)) return m;
  return std::nullopt;
}

int Step::tokens() const {
  int sum = 0;
  for (const StepItem& item : items) sum += item.tokens;
  return sum;
}

int Step::decode_rows() const {
  return static_cast<int>(std::count_if(items.begin(), items.end(), [](const StepItem& i) { return i.decode; }));
}

int Step::prefill_tokens() const {
  int sum = 0;
  for (const StepItem& item : items)
    if (!item.decode) sum += item.tokens;
  return sum;
}

double SlotUse::decode_fraction() const {
  return decode_slots_held > 0 ? static_cast<double>(decode_rows) / static_cast<double>(decode_slots_held) : 1.0;
}

double SlotUse::prefill_fraction() const {
  return prefill_padded > 0 ? static_cast<double>(prefill_tokens) / static_cast<double>(prefill_padded) : 1.0;
}

Scheduler::Scheduler(const RequestList& list, std::vector<int> requests, BatchingOptions options)
    : options_(options), seq_of_request_(list.requests.size(), -1) {
  if (options_.slots < 1) throw ConfigError(fmt::format("batching: {} slots; at least 1", options_.slots));
  std::stable_sort(requests.begin(), requests.end(), [&](int a, int b) {
    return list.requests.at(static_cast<std::size_t>(a)).arrival_s < list.requests.at(static_cast<std::size_t>(b)).arrival_s;
  });
  for (int r : requests) {
    const Request& req = list.requests.at(static_cast<std::size_t>(r));
    if (seq_of_request_[static_cast<std::size_t>(r)] >= 0)
      throw std::invalid_argument(fmt::format("scheduler: request {} given twice", r));
    seq_of_request_[static_cast<std::size_t>(r)] = static_cast<int>(seqs_.size());
    seqs_.push_back({r, req.prompt, req.output, req.arrival_s});
    RequestTimes t;
    t.request = r;
    t.arrival_s = req.arrival_s;
    times_.push_back(t);
  }
  slot_busy_.assign(static_cast<std::size_t>(options_.slots), false);
}

bool Scheduler::done() const { return finished_ == static_cast<int>(seqs_.size()); }

double Scheduler::next_arrival_s() const {
  return next_waiting_ < seqs_.size() ? seqs_[next_waiting_].arrival_s : std::numeric_limits<double>::infinity();
}

void Scheduler::admit(int seq, double now_s) {
  const auto free_slot = std::find(slot_busy_.begin(), slot_busy_.end(), false);
  Sequence& s = seqs_[static_cast<std::size_t>(seq)];
  s.slot = static_cast<int>(free_slot - slot_busy_.begin());
  *free_slot = true;
  times_[static_cast<std::size_t>(seq)].admitted_s = now_s;
  running_.push_back(seq);
}

void Scheduler::finish(int seq, double now_s) {
  Sequence& s = seqs_[static_cast<std::size_t>(seq)];
  s.finished = true;
  ++finished_;
  times_[static_cast<std::size_t>(seq)].finished_s = now_s;
  running_.erase(std::find(running_.begin(), running_.end(), seq));
  // A static batch keeps every slot until its last sequence ends.
  if (options_.mode == BatchingMode::continuous) slot_busy_[static_cast<std::size_t>(s.slot)] = false;
}

StepItem Scheduler::decode_row(const Sequence& s) const {
  // Output token k (1-based) is fed back at position prompt + k - 1 to produce token k + 1.
  return {s.request, s.slot, s.prompt + s.generated - 1, 1, true, true};
}

StepItem Scheduler::prompt_item(const Sequence& s, int tokens) const {
  return {s.request, s.slot, s.prefilled, tokens, s.prefilled + tokens == s.prompt, false};
}

Step Scheduler::next_static_step(double now_s) {
  Step step;
  if (batch_.empty()) {
    while (next_waiting_ < seqs_.size() && static_cast<int>(batch_.size()) < options_.slots &&
           seqs_[next_waiting_].arrival_s <= now_s) {
      admit(static_cast<int>(next_waiting_), now_s);
      batch_.push_back(static_cast<int>(next_waiting_++));
    }
    for (int seq : batch_) step.items.push_back(prompt_item(seqs_[static_cast<std::size_t>(seq)], seqs_[static_cast<std::size_t>(seq)].prompt));
    return step;
  }
  for (int seq : batch_)
    if (!seqs_[static_cast<std::size_t>(seq)].finished) step.items.push_back(decode_row(seqs_[static_cast<std::size_t>(seq)]));
  return step;
}

Step Scheduler::next_continuous_step(double now_s) {
  while (next_waiting_ < seqs_.size() && static_cast<int>(running_.size()) < options_.slots &&
         seqs_[next_waiting_].arrival_s <= now_s)
    admit(static_cast<int>(next_waiting_++), now_s);
  const long long budget = options_.token_budget > 0 ? options_.token_budget : std::numeric_limits<long long>::max();
  long long used = 0;
  Step step;
  if (options_.prefill_chunk == 0) {
    // Pending prompts first, whole, as many as fit the budget (the first always: a budget below
    // the longest prompt is refused by check_batching_options).
    for (int seq : running_) {
      const Sequence& s = seqs_[static_cast<std::size_t>(seq)];
      if (s.prefilled == s.prompt) continue;
      if (!step.items.empty() && used + s.prompt > budget) break;
      step.items.push_back(prompt_item(s, s.prompt));
      used += s.prompt;
    }
    if (!step.empty()) return step;
  }
  for (int seq : running_) {
    const Sequence& s = seqs_[static_cast<std::size_t>(seq)];
    if (s.prefilled == s.prompt && used < budget) {
      step.items.push_back(decode_row(s));
      ++used;
    }
  }
  if (options_.prefill_chunk == 0) return step;
  for (int seq : running_) {
    const Sequence& s = seqs_[static_cast<std::size_t>(seq)];
    if (s.prefilled == s.prompt || used >= budget) continue;
    const long long tokens = std::min<long long>({options_.prefill_chunk, s.prompt - s.prefilled, budget - used});
    step.items.push_back(prompt_item(s, static_cast<int>(tokens)));
    used += tokens;
  }
  return step;
}

Step Scheduler::next_step(double now_s) {
  if (pending_) throw std::logic_error("scheduler: next_step before the previous step was completed");
  Step step = options_.mode == BatchingMode::static_batches ? next_static_step(now_s) : next_continuous_step(now_s);
  if (!step.empty()) pending_ = step;
  return step;
}

void Scheduler::complete(const Step& step, double now_s) {
  if (step.empty()) return;
  if (!pending_ || !(*pending_ == step)) throw std::logic_error("scheduler: complete() of a step it did not return last");
  pending_.reset();
  ++steps_;
  int prompt_items = 0, longest_prompt_item = 0;
  for (const StepItem& item : step.items) {
    const int seq = seq_of_request_[static_cast<std::size_t>(item.request)];
    Sequence& s = seqs_[static_cast<std::size_t>(seq)];
    if (item.decode) {
      ++use_.decode_rows;
    } else {
      s.prefilled += item.tokens;
      use_.prefill_tokens += item.tokens;
      ++prompt_items;
      longest_prompt_item = std::max(longest_prompt_item, item.tokens);
    }
    if (!item.emits) continue;
    ++s.generated;
    RequestTimes& t = times_[static_cast<std::size_t>(seq)];
    t.token_s.push_back(now_s);
    if (s.generated == 1) t.first_token_s = now_s;
    if (s.generated == s.output) finish(seq, now_s);
  }
  if (step.decode_rows() > 0) use_.decode_slots_held += options_.slots;
  use_.prefill_padded += static_cast<long long>(prompt_items) * longest_prompt_item;
  if (options_.mode == BatchingMode::static_batches &&
      std::all_of(batch_.begin(), batch_.end(), [&](int seq) { return seqs_[static_cast<std::size_t>(seq)].finished; })) {
    batch_.clear();
    slot_busy_.assign(slot_busy_.size(), false);
  }
}

void check_batching_options(const BatchingOptions& options, const RequestList& list) {
  if (options.slots < 1) throw ConfigError(fmt::format("--batch: {} slots; at least 1", options.slots));
  if (options.token_budget < 0) throw ConfigError(fmt::format("--token-budget: {} is negative", options.token_budget));
  if (options.prefill_chunk < 0) throw ConfigError(fmt::format("--prefill-chunk: {} is negative", options.prefill_chunk));
  if (options.mode != BatchingMode::continuous || options.token_budget == 0) return;
  if (options.token_budget < options.slots)
    throw ConfigError(fmt::format("--token-budget: {} tokens per step is below the {} slots (--batch): every running "
                                  "sequence's decode row must fit in a step",
                                  options.token_budget, options.slots));
  if (options.prefill_chunk > 0) return;
  for (int i = 0; i < list.size(); ++i)
    if (list.requests[static_cast<std::size_t>(i)].prompt > options.token_budget)
      throw ConfigError(fmt::format("--token-budget: {} tokens per step is below the prompt of {} ({} tokens), which "
                                    "runs as one step without --prefill-chunk",
                                    options.token_budget, list.describe(i), list.requests[static_cast<std::size_t>(i)].prompt));
}

ScheduleRun simulate_schedule(const RequestList& list, std::vector<int> requests, const BatchingOptions& options,
                              double step_s) {
  Scheduler scheduler(list, std::move(requests), options);
  ScheduleRun run;
  double now = 0;
  while (!scheduler.done()) {
    const Step step = scheduler.next_step(now);
    if (step.empty()) {
      const double next = scheduler.next_arrival_s();  // idle until the next request arrives
      if (!(next > now)) throw std::logic_error("scheduler: an empty step with a request waiting");
      now = next;
      continue;
    }
    now += step_s;
    scheduler.complete(step, now);
    ++run.steps;
    const bool decode = step.decode_rows() > 0, prompt = step.prefill_tokens() > 0;
    run.decode_steps += decode && !prompt;
    run.prefill_steps += prompt && !decode;
    run.mixed_steps += decode && prompt;
  }
  run.end_s = now;
  run.times = scheduler.times();
  run.use = scheduler.slot_use();
  return run;
}

}  // namespace llmt
