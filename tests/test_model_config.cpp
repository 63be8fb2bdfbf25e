// config.json read as HuggingFace transformers 5 reads it (docs/config-fields.md): the files
// transformers 5.25 writes (tests/data/transformers5/, made by its save_pretrained), every default
// of a missing field taken from the family's config class, rope_parameters and the 4.x forms, and
// fields a family does not have ignored, never computed.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "model/error.hpp"
#include "model/model.hpp"

namespace llmt {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

json fixture(const std::string& name) {
  std::ifstream in(fs::path(LLMT_TEST_DATA) / "transformers5" / (name + ".json"));
  return json::parse(in);
}

fs::path own_temp(const std::string& suffix) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = std::string("llmt_test_config_") + info->test_suite_name() + "_" + info->name();
  for (char& ch : name)
    if (ch == '/') ch = '_';  // parameterised tests are named Prefix/Suite.Test/Param
  return fs::temp_directory_path() / (name + "_" + std::to_string(::getpid()) + suffix);
}

ModelConfig load_json(const json& doc) {
  const auto path = own_temp(".json");
  std::ofstream(path) << doc.dump();
  return load_model_file(path);
}

// The ModelError's message, or "no error".
std::string error_of(const json& doc) {
  try {
    load_json(doc);
  } catch (const ModelError& e) {
    return e.what();
  }
  return "no error";
}

json without(json doc, const std::string& field) {
  doc.erase(field);
  return doc;
}

bool has_note(const ModelConfig& m, const std::string& field) {
  for (const std::string& n : m.notes)
    if (n.find("'" + field + "'") != std::string::npos && n.find("ignored") != std::string::npos) return true;
  return false;
}

// --- what transformers 5 writes ---------------------------------------------------------------

TEST(ModelConfigTransformers5, SavedFilesReadAsTransformersBuildsThem) {
  const ModelConfig llama = load_json(fixture("llama"));
  EXPECT_EQ(llama.kv_heads, 4);
  EXPECT_EQ(llama.head_dim, 8);
  EXPECT_DOUBLE_EQ(llama.norm_eps, 1e-6);
  EXPECT_DOUBLE_EQ(llama.rope_theta, 10000.0);
  EXPECT_EQ(llama.rope_scaling.type, "default");
  EXPECT_FALSE(llama.qkv_bias || llama.out_bias || llama.mlp_bias);

  const ModelConfig biased = load_json(fixture("llama-biases"));
  EXPECT_TRUE(biased.qkv_bias && biased.out_bias && biased.mlp_bias);

  const ModelConfig mistral = load_json(fixture("mistral"));
  EXPECT_EQ(mistral.sliding_window, 4096);  // MistralConfig writes its default window

  const ModelConfig mixtral = load_json(fixture("mixtral"));
  EXPECT_DOUBLE_EQ(mixtral.rope_theta, 1e6);
  EXPECT_DOUBLE_EQ(mixtral.norm_eps, 1e-5);
  EXPECT_EQ(mixtral.experts, 4);
  EXPECT_EQ(mixtral.experts_per_token, 2);
  EXPECT_EQ(mixtral.moe_intermediate, 128);
  EXPECT_TRUE(mixtral.norm_topk_prob);
  EXPECT_EQ(mixtral.sliding_window, 0);
  EXPECT_EQ(mixtral.head_dim, 8);  // head_dim: null

  const ModelConfig qwen2 = load_json(fixture("qwen2"));
  EXPECT_DOUBLE_EQ(qwen2.rope_theta, 1e6);  // only in rope_parameters
  EXPECT_TRUE(qwen2.qkv_bias);
  EXPECT_FALSE(qwen2.out_bias);
  EXPECT_EQ(qwen2.sliding_window, 0);

  const ModelConfig qwen3 = load_json(fixture("qwen3"));
  EXPECT_EQ(qwen3.head_dim, 16);
  EXPECT_TRUE(qwen3.qk_norm);
  EXPECT_FALSE(qwen3.qkv_bias || qwen3.out_bias);

  const ModelConfig qwen2_moe = load_json(fixture("qwen2-moe"));
  EXPECT_EQ(qwen2_moe.experts, 4);
  EXPECT_EQ(qwen2_moe.experts_per_token, 2);
  EXPECT_EQ(qwen2_moe.moe_intermediate, 32);
  EXPECT_EQ(qwen2_moe.shared_expert_intermediate, 48);
  EXPECT_FALSE(qwen2_moe.norm_topk_prob);
  EXPECT_TRUE(qwen2_moe.qkv_bias);
  EXPECT_FALSE(qwen2_moe.out_bias);
  EXPECT_EQ(qwen2_moe.sliding_window, 0);  // the file says sliding_window 0 with use_sliding_window false

  const ModelConfig qwen3_moe = load_json(fixture("qwen3-moe"));
  EXPECT_EQ(qwen3_moe.experts, 8);  // written as num_local_experts
  EXPECT_EQ(qwen3_moe.experts_per_token, 2);
  EXPECT_EQ(qwen3_moe.moe_intermediate, 32);
  EXPECT_TRUE(qwen3_moe.qk_norm);

  const ModelConfig gpt2 = load_json(fixture("gpt2"));
  EXPECT_EQ(gpt2.arch, Architecture::gpt2);
  EXPECT_EQ(gpt2.intermediate, 4 * 48);
  EXPECT_TRUE(gpt2.tied_embeddings);
  for (const char* name : {"llama", "mistral", "mixtral", "qwen2", "qwen3", "qwen2-moe", "qwen3-moe", "gpt2"})
    EXPECT_TRUE(load_json(fixture(name)).notes.empty()) << name << ": " << load_json(fixture(name)).notes.front();
}

TEST(ModelConfigTransformers5, RopeParametersCarryThetaAndScaling) {
  const ModelConfig llama3 = load_json(fixture("llama3-rope"));
  EXPECT_DOUBLE_EQ(llama3.rope_theta, 500000.0);
  EXPECT_EQ(llama3.rope_scaling.type, "llama3");
  EXPECT_DOUBLE_EQ(llama3.rope_scaling.factor, 8.0);
  EXPECT_EQ(llama3.rope_scaling.original_max_positions, 64);
  EXPECT_DOUBLE_EQ(llama3.rope_scaling.high_freq_factor, 4.0);

  const ModelConfig yarn = load_json(fixture("qwen2-yarn"));
  EXPECT_DOUBLE_EQ(yarn.rope_theta, 1e6);
  EXPECT_EQ(yarn.rope_scaling.type, "yarn");
  EXPECT_DOUBLE_EQ(yarn.rope_scaling.factor, 4.0);
  EXPECT_EQ(yarn.rope_scaling.original_max_positions, 128);

  // transformers: original_max_position_embeddings defaults to max_position_embeddings.
  json no_original = fixture("llama3-rope");
  no_original["rope_parameters"].erase("original_max_position_embeddings");
  EXPECT_EQ(load_json(no_original).rope_scaling.original_max_positions, 512);
}

TEST(ModelConfigTransformers5, FourXFormsAreStillRead) {
  json v4 = without(fixture("llama"), "rope_parameters");
  v4["rope_theta"] = 500000.0;
  v4["rope_scaling"] = {{"type", "linear"}, {"factor", 2.0}};
  const ModelConfig m = load_json(v4);
  EXPECT_DOUBLE_EQ(m.rope_theta, 500000.0);
  EXPECT_EQ(m.rope_scaling.type, "linear");
  EXPECT_DOUBLE_EQ(m.rope_scaling.factor, 2.0);
  // Both forms, saying the same: read.
  json both = fixture("llama3-rope");
  both["rope_theta"] = 500000.0;
  both["rope_scaling"] = both["rope_parameters"];
  both["rope_scaling"].erase("rope_theta");
  EXPECT_DOUBLE_EQ(load_json(both).rope_theta, 500000.0);
  // Mixtral's 4.x expert count alias.
  json alias = without(fixture("mixtral"), "num_local_experts");
  alias["num_experts"] = 6;
  EXPECT_EQ(load_json(alias).experts, 6);
}

TEST(ModelConfigTransformers5, FormsThatDisagreeAreRefusedNamingTheFileAndBothFields) {
  auto expect_refused = [](const json& doc, const std::string& a, const std::string& b) {
    const std::string msg = error_of(doc);
    EXPECT_NE(msg.find("llmt_test_config_"), std::string::npos) << msg;
    EXPECT_NE(msg.find("'" + a + "'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("'" + b + "'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("disagree"), std::string::npos) << msg;
  };
  json theta = fixture("qwen2");  // rope_parameters.rope_theta 1e6
  theta["rope_theta"] = 10000.0;
  expect_refused(theta, "rope_theta", "rope_parameters.rope_theta");
  json scaling = fixture("llama3-rope");
  scaling["rope_scaling"] = {{"rope_type", "linear"}, {"factor", 8.0}};
  expect_refused(scaling, "rope_scaling", "rope_parameters");
  json experts = fixture("mixtral");
  experts["num_experts"] = 6;
  expect_refused(experts, "num_local_experts", "num_experts");
}

// --- one test per default: the field removed, the value transformers' class gives ---------------

struct DefaultCase {
  const char* fixture;
  const char* field;
  std::function<double(const ModelConfig&)> read;
  double expected;
};

double theta(const ModelConfig& m) { return m.rope_theta; }
double eps(const ModelConfig& m) { return m.norm_eps; }
double kv(const ModelConfig& m) { return m.kv_heads; }
double head(const ModelConfig& m) { return m.head_dim; }
double window(const ModelConfig& m) { return m.sliding_window; }
double tied(const ModelConfig& m) { return m.tied_embeddings; }
double experts(const ModelConfig& m) { return m.experts; }
double per_token(const ModelConfig& m) { return m.experts_per_token; }
double moe_width(const ModelConfig& m) { return m.moe_intermediate; }
double shared(const ModelConfig& m) { return m.shared_expert_intermediate; }
double topk(const ModelConfig& m) { return m.norm_topk_prob; }
double qkv_bias(const ModelConfig& m) { return m.qkv_bias; }
double out_bias(const ModelConfig& m) { return m.out_bias; }
double mlp_bias(const ModelConfig& m) { return m.mlp_bias; }
double sparse_step(const ModelConfig& m) { return m.decoder_sparse_step; }
double dense_layers(const ModelConfig& m) { return static_cast<double>(m.mlp_only_layers.size()); }
double inner(const ModelConfig& m) { return m.intermediate; }

class ModelConfigDefaults : public ::testing::TestWithParam<DefaultCase> {};

TEST_P(ModelConfigDefaults, MissingFieldTakesTheTransformersClassDefault) {
  const DefaultCase c = GetParam();
  const ModelConfig m = load_json(without(fixture(c.fixture), c.field));
  EXPECT_DOUBLE_EQ(c.read(m), c.expected) << c.fixture << " without " << c.field;
}

// Values: transformers 5.25, XConfig().to_dict() (docs/config-fields.md).
INSTANTIATE_TEST_SUITE_P(
    Families, ModelConfigDefaults,
    ::testing::Values(
        DefaultCase{"llama", "rope_parameters", theta, 10000.0}, DefaultCase{"llama", "rms_norm_eps", eps, 1e-6},
        DefaultCase{"llama", "num_key_value_heads", kv, 8.0},  // None: num_attention_heads
        DefaultCase{"llama", "head_dim", head, 8.0},           // None: hidden_size / num_attention_heads
        DefaultCase{"llama", "tie_word_embeddings", tied, 0.0},
        DefaultCase{"llama-biases", "attention_bias", out_bias, 0.0},
        DefaultCase{"llama-biases", "mlp_bias", mlp_bias, 0.0},
        DefaultCase{"mistral", "sliding_window", window, 4096.0},
        DefaultCase{"mistral", "rope_parameters", theta, 10000.0}, DefaultCase{"mistral", "rms_norm_eps", eps, 1e-6},
        DefaultCase{"mistral", "num_key_value_heads", kv, 8.0}, DefaultCase{"mistral", "head_dim", head, 8.0},
        DefaultCase{"mixtral", "rope_parameters", theta, 1e6}, DefaultCase{"mixtral", "rms_norm_eps", eps, 1e-5},
        DefaultCase{"mixtral", "num_local_experts", experts, 8.0},
        DefaultCase{"mixtral", "num_experts_per_tok", per_token, 2.0},
        DefaultCase{"mixtral", "num_key_value_heads", kv, 8.0}, DefaultCase{"mixtral", "sliding_window", window, 0.0},
        DefaultCase{"qwen2", "rope_parameters", theta, 10000.0}, DefaultCase{"qwen2", "rms_norm_eps", eps, 1e-6},
        DefaultCase{"qwen2", "tie_word_embeddings", tied, 0.0},
        DefaultCase{"qwen3", "head_dim", head, 128.0}, DefaultCase{"qwen3", "attention_bias", qkv_bias, 0.0},
        DefaultCase{"qwen3", "rope_parameters", theta, 10000.0},
        DefaultCase{"qwen2-moe", "shared_expert_intermediate_size", shared, 5632.0},
        DefaultCase{"qwen2-moe", "num_experts", experts, 60.0},
        DefaultCase{"qwen2-moe", "num_experts_per_tok", per_token, 4.0},
        DefaultCase{"qwen2-moe", "moe_intermediate_size", moe_width, 1408.0},
        DefaultCase{"qwen2-moe", "norm_topk_prob", topk, 0.0}, DefaultCase{"qwen2-moe", "qkv_bias", qkv_bias, 1.0},
        DefaultCase{"qwen2-moe", "decoder_sparse_step", sparse_step, 1.0},
        DefaultCase{"qwen2-moe", "mlp_only_layers", dense_layers, 0.0},
        DefaultCase{"qwen2-moe", "rope_parameters", theta, 10000.0},
        DefaultCase{"qwen3-moe", "num_local_experts", experts, 128.0},
        DefaultCase{"qwen3-moe", "num_experts_per_tok", per_token, 8.0},
        DefaultCase{"qwen3-moe", "moe_intermediate_size", moe_width, 768.0},
        DefaultCase{"qwen3-moe", "norm_topk_prob", topk, 0.0}, DefaultCase{"qwen3-moe", "num_key_value_heads", kv, 4.0},
        DefaultCase{"qwen3-moe", "head_dim", head, 8.0}, DefaultCase{"qwen3-moe", "attention_bias", out_bias, 0.0},
        DefaultCase{"gpt2", "layer_norm_epsilon", eps, 1e-5}, DefaultCase{"gpt2", "tie_word_embeddings", tied, 1.0},
        DefaultCase{"gpt2", "n_inner", inner, 4.0 * 48}),
    [](const auto& case_info) {
      std::string n = std::string(case_info.param.fixture) + "_" + case_info.param.field;
      for (char& ch : n)
        if (ch == '-') ch = '_';
      return n;
    });

// Defaults that are shapes the small fixtures cannot take are seen in the refusal they cause.
TEST(ModelConfigDefaultsByMessage, KeyValueHeadsOfQwenClassesAreFixedNumbers) {
  // Qwen2Config: 32, Qwen2MoeConfig: 16 (not num_attention_heads); 8 query heads cannot share them.
  EXPECT_NE(error_of(without(fixture("qwen2"), "num_key_value_heads")).find("32 KV heads"), std::string::npos);
  EXPECT_NE(error_of(without(fixture("qwen3"), "num_key_value_heads")).find("32 KV heads"), std::string::npos);
  EXPECT_NE(error_of(without(fixture("qwen2-moe"), "num_key_value_heads")).find("16 KV heads"), std::string::npos);
  // An explicit null is num_attention_heads where the class's __post_init__ says so.
  json null_kv = fixture("qwen2");
  null_kv["num_key_value_heads"] = nullptr;
  EXPECT_EQ(load_json(null_kv).kv_heads, 8);
  json moe_null_kv = fixture("qwen2-moe");
  moe_null_kv["num_key_value_heads"] = nullptr;
  EXPECT_NE(error_of(moe_null_kv).find("'num_key_value_heads'"), std::string::npos);
}

// --- sliding windows: which layers, by each family's rule ----------------------------------------

json windowed(const char* name, int layers, const json& extra) {
  json doc = without(fixture(name), "layer_types");
  doc["num_hidden_layers"] = layers;
  doc.update(extra);
  return doc;
}

TEST(ModelConfigWindows, Qwen2UseSlidingWindowAndMaxWindowLayers) {
  // use_sliding_window defaults to false: no window even with a size.
  EXPECT_EQ(load_json(windowed("qwen2", 2, {{"sliding_window", 16}})).sliding_window, 0);
  // Layers from max_window_layers on; with every layer there, the window applies.
  EXPECT_EQ(load_json(windowed("qwen2", 2, {{"sliding_window", 16}, {"use_sliding_window", true},
                                            {"max_window_layers", 0}}))
                .sliding_window,
            16);
  // max_window_layers defaults to 28: 2 layers are all below it, so none is windowed.
  EXPECT_EQ(load_json(windowed("qwen2", 2, {{"sliding_window", 16}, {"use_sliding_window", true}})).sliding_window, 0);
  // Some layers only: refused by name.
  EXPECT_NE(error_of(windowed("qwen2", 2, {{"sliding_window", 16}, {"use_sliding_window", true},
                                           {"max_window_layers", 1}}))
                .find("'max_window_layers'"),
            std::string::npos);
  // use_sliding_window true and sliding_window absent: Qwen2Config's 4096 (transformers 5 writes null,
  // the size dropped while use_sliding_window was false: then there is no window).
  const json use = {{"use_sliding_window", true}, {"max_window_layers", 0}};
  EXPECT_EQ(load_json(without(windowed("qwen2", 2, use), "sliding_window")).sliding_window, 4096);
  EXPECT_EQ(load_json(windowed("qwen2", 2, use)).sliding_window, 0);
}

TEST(ModelConfigWindows, Qwen2MoeWindowsEvenLayersBelowMaxWindowLayers) {
  // Qwen2MoeConfig: layer i is sliding when use_sliding_window, i even and i < max_window_layers.
  EXPECT_EQ(load_json(windowed("qwen2-moe", 1, {{"sliding_window", 16}, {"use_sliding_window", true}})).sliding_window,
            16);
  const std::string mixed =
      error_of(windowed("qwen2-moe", 3, {{"sliding_window", 16}, {"use_sliding_window", true}}));
  EXPECT_NE(mixed.find("'max_window_layers'"), std::string::npos) << mixed;
  EXPECT_NE(mixed.find("layers 0, 2 of 3"), std::string::npos) << mixed;
  // max_window_layers 0: no layer is below it.
  EXPECT_EQ(load_json(windowed("qwen2-moe", 3, {{"sliding_window", 16}, {"use_sliding_window", true},
                                                {"max_window_layers", 0}}))
                .sliding_window,
            0);
  // An explicit layer_types decides instead of the rule.
  EXPECT_EQ(load_json(windowed("qwen2-moe", 3, {{"sliding_window", 16}, {"use_sliding_window", true},
                                                {"layer_types", {"sliding_attention", "sliding_attention",
                                                                 "sliding_attention"}}}))
                .sliding_window,
            16);
}

TEST(ModelConfigWindows, MistralMixtralAndQwen3Moe) {
  EXPECT_EQ(load_json(windowed("mixtral", 2, {{"sliding_window", 32}})).sliding_window, 32);
  EXPECT_EQ(load_json(windowed("mistral", 2, {{"sliding_window", nullptr}})).sliding_window, 0);
  EXPECT_EQ(load_json(windowed("qwen3-moe", 2, {{"sliding_window", 32}})).sliding_window, 0);
  EXPECT_EQ(load_json(windowed("qwen3-moe", 2, {{"sliding_window", 32}, {"use_sliding_window", true}})).sliding_window,
            32);
  // Llama has no window: ignored, with a note.
  const ModelConfig llama = load_json(windowed("llama", 2, {{"sliding_window", 32}}));
  EXPECT_EQ(llama.sliding_window, 0);
  EXPECT_TRUE(has_note(llama, "sliding_window"));
}

// --- fields a family does not have: ignored as transformers ignores them, never computed ---------

TEST(ModelConfigForeignFields, BiasesOfFamiliesWithoutThemAreNotComputed) {
  struct Case {
    const char* fixture;
    const char* field;
  };
  for (const Case c : {Case{"qwen2", "attention_bias"}, Case{"qwen2", "mlp_bias"}, Case{"mistral", "attention_bias"},
                       Case{"mistral", "mlp_bias"}, Case{"mixtral", "attention_bias"}, Case{"mixtral", "mlp_bias"},
                       Case{"qwen3", "mlp_bias"}, Case{"qwen3-moe", "mlp_bias"}, Case{"qwen2-moe", "attention_bias"},
                       Case{"qwen2-moe", "mlp_bias"}, Case{"llama", "qkv_bias"}}) {
    json doc = fixture(c.fixture);
    doc[c.field] = true;
    const ModelConfig plain = load_json(fixture(c.fixture));
    const ModelConfig m = load_json(doc);
    EXPECT_EQ(m.qkv_bias, plain.qkv_bias) << c.fixture << " " << c.field;
    EXPECT_FALSE(m.out_bias) << c.fixture << " " << c.field;
    EXPECT_FALSE(m.mlp_bias) << c.fixture << " " << c.field;
    EXPECT_TRUE(has_note(m, c.field)) << c.fixture << " " << c.field;
  }
  // The families that have them compute them.
  json qwen3 = fixture("qwen3");
  qwen3["attention_bias"] = true;
  EXPECT_TRUE(load_json(qwen3).qkv_bias && load_json(qwen3).out_bias);
  json qwen2_moe = fixture("qwen2-moe");
  qwen2_moe["qkv_bias"] = false;
  EXPECT_FALSE(load_json(qwen2_moe).qkv_bias);
}

TEST(ModelConfigForeignFields, ExpertsOfADenseFamilyAreIgnored) {
  json doc = fixture("llama");
  doc["num_local_experts"] = 4;
  doc["num_experts_per_tok"] = 2;
  const ModelConfig m = load_json(doc);
  EXPECT_EQ(m.experts, 0);
  EXPECT_TRUE(has_note(m, "num_local_experts"));
  // Qwen2-MoE counts its experts in num_experts only.
  json qwen = fixture("qwen2-moe");
  qwen["num_local_experts"] = 3;
  EXPECT_EQ(load_json(qwen).experts, 4);
}

}  // namespace
}  // namespace llmt
