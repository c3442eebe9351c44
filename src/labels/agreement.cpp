#include "labels/agreement.hpp"

#include <cmath>

namespace cc {

Agreement category_agreement(const CategoryMap& a, const CategoryMap& b) {
  Agreement r;
  std::map<std::string, double> pa, pb;  // answer frequencies over the common features
  int64_t same = 0, match = 0;
  for (const auto& [f, ca] : a) {
    const auto it = b.find(f);
    if (it == b.end()) continue;
    const std::string& cb = it->second;
    ++r.assessed;
    pa[ca] += 1;
    pb[cb] += 1;
    same += ca == cb;
    if (!ca.empty() && !cb.empty()) {
      ++r.both_labelled;
      match += ca == cb;
    }
  }
  const double n = double(r.assessed);
  r.observed = n > 0 ? double(same) / n : NAN;
  double chance = 0;
  for (const auto& [cat, k] : pa)
    if (pb.count(cat)) chance += (k / n) * (pb[cat] / n);
  r.kappa = n > 0 && chance < 1 ? (r.observed - chance) / (1 - chance) : NAN;
  r.labelled_match = r.both_labelled > 0 ? double(match) / double(r.both_labelled) : NAN;
  return r;
}

static Json number_or_null(double x) { return std::isfinite(x) ? Json(x) : Json(nullptr); }

Json Agreement::to_json() const {
  return {{"assessed", assessed}, {"observed", number_or_null(observed)}, {"kappa", number_or_null(kappa)},
          {"both_labelled", both_labelled}, {"labelled_match", number_or_null(labelled_match)}};
}

}  // namespace cc
