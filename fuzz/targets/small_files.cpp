// Target: the smaller user-supplied files, chosen by the first byte: 0 a reasoning lexicon (TOML),
// 1 a .npy array, 2 steering prompts (JSONL), 3 a function-vector word-pair task (JSON),
// 4 a run folder's stages.json.
#include "data/lexicon.hpp"
#include "core/npy.hpp"
#include "fuzz_common.hpp"
#include "geometry/word_pairs.hpp"
#include "interventions/steer_sweep.hpp"
#include "pipeline/stage_record.hpp"

using namespace cc;

CC_FUZZ_INIT_WITHOUT_FIXTURE

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t* body = data + 1;
  const size_t n = size - 1;
  fuzz::refuse_ok([&] {
    switch (data[0] % 5) {
      case 0: {
        const Lexicon lex = load_lexicon(fuzz::put("lexicon.toml", body, n));
        (void)lex.match("Wait, let me check");
        (void)lex.count("Therefore, wait. Alternatively but hmm");
        break;
      }
      case 1: {
        const NpyArray a = read_npy_f32(fuzz::put("a.npy", body, n));
        FUZZ_CHECK(a.data.size() == size_t(shape_numel(a.shape)));
        break;
      }
      case 2:
        (void)load_steer_prompts(fuzz::put("prompts.jsonl", body, n));
        break;
      case 3:
        (void)load_word_pair_task(fuzz::put("task.json", body, n));
        break;
      case 4: {
        fuzz::put("run/stages.json", body, n);
        StageRecord r(fuzz::scratch() + "/run");
        (void)r.done("harvest", "0123456789abcdef");
        (void)r.started("train-l1", "0123456789abcdef");
        break;
      }
    }
  });
  return 0;
}
