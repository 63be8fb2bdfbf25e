// Teacher-forced routing: the configurations take the fp32 reference's experts as they take its
// tokens (docs/metrics.md, "Verification"), and report how often their own choice agreed.
#include "engine/moe.hpp"
#include "engine/process_world.hpp"
#include "engine/rank_outcome.hpp"
#include "engine/runner.hpp"

namespace llmt {

RunOptions with_forced_routes(const RunOptions& options, std::shared_ptr<const ExpertChoices> routes, bool ensemble) {
  if (!routes || ensemble || process_world() || options.exec.routing.kind != RoutingKind::model) return options;
  RunOptions forced = options;
  forced.exec.forced_routes = std::move(routes);
  return forced;
}

double routing_agreement(const std::vector<RankOutcome>& outcomes) {
  long long agreed = 0, compared = 0;
  for (const RankOutcome& o : outcomes) {
    agreed += o.routes_agreed;
    compared += o.routes_compared;
  }
  return compared > 0 ? static_cast<double>(agreed) / static_cast<double>(compared) : -1.0;
}

}  // namespace llmt
