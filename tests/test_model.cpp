// Model descriptions: presets carry the published shapes, and every malformed file is a
// ModelError that names the file and the field.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "model/error.hpp"
#include "model/model.hpp"
#include "model/checkpoint.hpp"
#include "model/rope.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace llmt {
namespace {

struct PresetCase {
  const char* name;
  double billions;  // published matrix parameter count (../shared/docs/models.md)
  int hidden, layers, heads, kv_heads, vocab;
};

void PrintTo(const PresetCase& c, std::ostream* os) { *os << c.name; }

class Presets : public ::testing::TestWithParam<PresetCase> {};

TEST_P(Presets, ParameterCountAndShapeMatchThePublishedModel) {
  const PresetCase c = GetParam();
  const ModelConfig m = load_model(c.name);
  EXPECT_NEAR(parameter_count(m) / 1e9, c.billions, 0.005) << c.name;
  EXPECT_EQ(m.hidden, c.hidden);
  EXPECT_EQ(m.layers, c.layers);
  EXPECT_EQ(m.heads, c.heads);
  EXPECT_EQ(m.kv_heads, c.kv_heads);
  EXPECT_EQ(m.vocab, c.vocab);
}

INSTANTIATE_TEST_SUITE_P(Published, Presets,
                         ::testing::Values(PresetCase{"gpt2", 0.124, 768, 12, 12, 12, 50257},
                                           PresetCase{"llama-2-7b", 6.74, 4096, 32, 32, 32, 32000},
                                           PresetCase{"llama-2-70b", 68.98, 8192, 80, 64, 8, 32000},
                                           PresetCase{"llama-3-8b", 8.03, 4096, 32, 32, 8, 128256},
                                           PresetCase{"llama-3-70b", 70.55, 8192, 80, 64, 8, 128256},
                                           PresetCase{"mistral-7b", 7.24, 4096, 32, 32, 8, 32000},
                                           PresetCase{"qwen2-7b", 7.62, 3584, 28, 28, 4, 152064},
                                           PresetCase{"mixtral-8x7b", 46.70, 4096, 32, 32, 8, 32000}),
                         [](const auto& test) {
                           std::string n = test.param.name;
                           for (char& ch : n)
                             if (ch == '-') ch = '_';
                           return n;
                         });

TEST(Presets, ArchitectureDetails) {
  const ModelConfig mixtral = load_model("mixtral-8x7b");
  EXPECT_EQ(mixtral.experts, 8);
  EXPECT_EQ(mixtral.experts_per_token, 2);
  EXPECT_NEAR(active_parameter_count(mixtral) / 1e9, 12.88, 0.01);
  const ModelConfig gpt2 = load_model("gpt2");
  EXPECT_EQ(gpt2.arch, Architecture::gpt2);
  EXPECT_EQ(gpt2.intermediate, 3072);  // n_inner null means 4 * n_embd
  EXPECT_TRUE(gpt2.tied_embeddings);
  EXPECT_EQ(load_model("mistral-7b").sliding_window, 4096);
  EXPECT_EQ(load_model("qwen2-7b").sliding_window, 0);  // use_sliding_window: false
  EXPECT_TRUE(load_model("qwen2-7b").qkv_bias);
  EXPECT_EQ(load_model("llama-3-8b").head_dim, 128);
  EXPECT_DOUBLE_EQ(load_model("llama-3-8b").rope_theta, 500000.0);
}

TEST(Presets, ListIncludesEveryShippedModel) {
  const auto names = list_model_presets();
  for (const char* n : {"tiny", "tiny-gpt2", "gpt2", "llama-2-7b", "llama-2-70b", "llama-3-8b", "llama-3-70b",
                        "mistral-7b", "qwen2-7b", "mixtral-8x7b"})
    EXPECT_NE(std::find(names.begin(), names.end(), n), names.end()) << n;
}

// A temporary path of this test's own (CTest runs tests in parallel processes).
std::filesystem::path own_temp(const std::string& suffix) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  return std::filesystem::temp_directory_path() /
         (std::string("llmt_test_model_") + info->name() + "_" + std::to_string(::getpid()) + suffix);
}

// Writes `body` to a temporary config file and returns the ModelError message.
std::string load_error(const std::string& body) {
  const auto path = own_temp(".json");
  std::ofstream(path) << body;
  try {
    load_model_file(path);
  } catch (const ModelError& e) {
    return e.what();
  }
  return "no error";
}

const char* kLlama = R"({"model_type": "llama", "hidden_size": 64, "intermediate_size": 128,
  "num_attention_heads": 8, "num_key_value_heads": 4, "num_hidden_layers": 2, "vocab_size": 100,
  "max_position_embeddings": 64 %s})";

std::string llama_with(const std::string& extra, const std::string& drop = "") {
  std::string s = kLlama;
  s.replace(s.find("%s"), 2, extra);
  if (!drop.empty()) {
    const auto at = s.find("\"" + drop + "\"");
    const auto comma = s.find(',', at);
    s.erase(at, comma - at + 1);
  }
  return s;
}

TEST(ModelErrors, NameTheFileAndTheField) {
  struct Case {
    std::string body, field, says;
  };
  const std::vector<Case> cases = {
      {llama_with("", "hidden_size"), "hidden_size", "missing"},
      {llama_with(", \"hidden_size\": \"4096\"", "hidden_size"), "hidden_size", "positive integer"},
      {llama_with(", \"hidden_size\": -4", "hidden_size"), "hidden_size", "positive integer"},
      {llama_with(", \"hidden_size\": 4096.5", "hidden_size"), "hidden_size", "positive integer"},
      {llama_with(", \"num_attention_heads\": 7", "num_attention_heads"), "num_attention_heads", "do not divide"},
      {llama_with(", \"num_key_value_heads\": 3", "num_key_value_heads"), "num_key_value_heads", "do not divide"},
      {llama_with(", \"rms_norm_eps\": \"small\""), "rms_norm_eps", "number"},
      {llama_with(", \"tie_word_embeddings\": 1"), "tie_word_embeddings", "true or false"},
      {llama_with(", \"head_dim\": 7"), "head_dim", "even"},
      {llama_with(", \"hidden_act\": \"relu\""), "hidden_act", "not supported"},
      {llama_with(R"(, "model_type": "mixtral", "num_local_experts": 2, "num_experts_per_tok": 3)", "model_type"),
       "num_experts_per_tok", "exceeds"},
      {R"({"model_type": "bert", "hidden_size": 8})", "model_type", "not supported"},
      {R"({"model_type": "gpt2", "n_embd": 10, "n_head": 4, "n_layer": 1, "vocab_size": 5, "n_positions": 8})",
       "n_head", "do not divide"},
  };
  for (const Case& c : cases) {
    const std::string msg = load_error(c.body);
    EXPECT_NE(msg.find("llmt_test_model_"), std::string::npos) << msg;
    EXPECT_NE(msg.find("'" + c.field + "'"), std::string::npos) << msg;
    EXPECT_NE(msg.find(c.says), std::string::npos) << msg;
  }
}

TEST(ModelErrors, BadJsonAndMissingFiles) {
  EXPECT_NE(load_error("{ \"hidden_size\": ").find("not valid JSON"), std::string::npos);
  EXPECT_NE(load_error("[1, 2]").find("JSON object"), std::string::npos);
  EXPECT_NE(load_error("").find("not valid JSON"), std::string::npos);
  try {
    load_model("/nonexistent/dir/config.json");
    FAIL();
  } catch (const ModelError& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/dir/config.json"), std::string::npos);
  }
  try {
    load_model("llama-9-1t");
    FAIL();
  } catch (const ModelError& e) {
    EXPECT_NE(std::string(e.what()).find("llama-3-8b"), std::string::npos) << "lists the presets: " << e.what();
  }
}

TEST(ModelErrors, SizesAndProductsAreBoundedBeforeAnythingOverflows) {
  struct Case {
    std::string body, field, says;
  };
  const std::vector<Case> cases = {
      // Beyond int64, and 2^64-1 (which read as a signed number would look like -1).
      {llama_with(", \"hidden_size\": 18446744073709551615", "hidden_size"), "hidden_size", "implausibly large"},
      {llama_with(", \"vocab_size\": 4294967296", "vocab_size"), "vocab_size", "implausibly large"},
      {llama_with(", \"hidden_size\": 67108864, \"head_dim\": 64", "hidden_size"), "hidden_size", "exceeds the most"},
      {llama_with(", \"num_hidden_layers\": 2097152", "num_hidden_layers"), "num_hidden_layers", "exceeds the most"},
      {llama_with(R"(, "model_type": "mixtral", "num_local_experts": 100000, "num_experts_per_tok": 2)", "model_type"),
       "num_local_experts",
       "exceeds the most"},
      // Each within bounds, their product not: (heads + 2 kv) * head_dim.
      {llama_with(", \"num_attention_heads\": 65536, \"num_key_value_heads\": 65536, \"head_dim\": 4096",
                  "num_attention_heads"),
       "head_dim", "exceeds the most"},
      {llama_with(", \"hidden_size\": 16777216, \"intermediate_size\": 16777216, \"vocab_size\": 16777216, "
                  "\"head_dim\": 64",
                  "hidden_size"),
       "num_hidden_layers", "parameters, more than"},
  };
  for (const Case& c : cases) {
    const std::string msg = load_error(c.body);
    EXPECT_NE(msg.find("llmt_test_model_"), std::string::npos) << msg;
    EXPECT_NE(msg.find("'" + c.field + "'"), std::string::npos) << msg;
    EXPECT_NE(msg.find(c.says), std::string::npos) << msg;
  }
  // A deep but allowed model loads, and its parameter count is exact in int64.
  const auto path = own_temp("_deep.json");
  std::ofstream(path) << llama_with(", \"num_hidden_layers\": 1048576", "num_hidden_layers");
  const ModelConfig deep = load_model_file(path);
  EXPECT_EQ(deep.layers, 1048576);
  EXPECT_EQ(parameter_count(deep), layer_parameter_count(deep) * 1048576 + 2 * 100 * 64);
}

TEST(ModelErrors, DirectoriesAndEmptyFilesAreClearErrors) {
  const auto dir = own_temp("_emptydir");
  std::filesystem::create_directories(dir);
  try {
    load_model(dir.string());
    FAIL();
  } catch (const ModelError& e) {
    EXPECT_NE(std::string(e.what()).find("without a config.json"), std::string::npos) << e.what();
  }
  try {
    load_model_file(dir);
    FAIL();
  } catch (const ModelError& e) {
    EXPECT_NE(std::string(e.what()).find("is a directory"), std::string::npos) << e.what();
  }
  EXPECT_NE(load_error("").find("not valid JSON"), std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST(ModelErrors, LayersOutOfRange) {
  const ModelConfig m = load_model("tiny");
  EXPECT_EQ(with_layers(m, 2).layers, 2);
  EXPECT_EQ(with_layers(m, 2).published_layers, 4);
  EXPECT_THROW(with_layers(m, 5), ModelError);
  EXPECT_THROW(with_layers(m, 0), ModelError);
}

TEST(ModelFiles, ReadsADirectoryHoldingConfigJson) {
  const auto dir = own_temp("_dir");
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "config.json") << llama_with("");
  const ModelConfig m = load_model(dir.string());
  EXPECT_EQ(m.name, dir.filename().string());
  EXPECT_EQ(m.head_dim, 8);
  EXPECT_EQ(m.kv_heads, 4);
}

}  // namespace
}  // namespace llmt

namespace llmt {
namespace {

// Every field of a real config that would change the math in a way llmthreads does not
// implement is refused by name; none is silently ignored.
TEST(ModelMath, FieldsThatChangeTheMathAndAreNotImplementedAreRefusedByName) {
  const nlohmann::json llama = nlohmann::json::parse(llama_with(""));
  const nlohmann::json gpt2 = nlohmann::json::parse(
      R"({"model_type": "gpt2", "n_embd": 16, "n_head": 4, "n_layer": 2, "vocab_size": 50, "n_positions": 32})");
  const auto fields = refused_math_fields();
  ASSERT_GE(fields.size(), 10u);
  for (const RefusedMathField& f : fields) {
    nlohmann::json config = f.gpt2 ? gpt2 : llama;
    config.update(nlohmann::json::parse(f.example));
    const std::string msg = load_error(config.dump());
    EXPECT_NE(msg.find("'" + f.field + "'"), std::string::npos) << f.field << ": " << msg;
    EXPECT_EQ(msg.find("no error"), std::string::npos) << f.field;
  }
  // The accepted values load.
  for (const char* ok : {R"(, "attention_bias": true, "mlp_bias": true, "partial_rotary_factor": 1.0)",
                         R"(, "sliding_window": 16, "use_sliding_window": false, "max_window_layers": 1)",
                         R"(, "sliding_window": 16, "layer_types": ["sliding_attention", "sliding_attention"])"})
    EXPECT_EQ(load_error(llama_with(ok)), "no error") << ok;
  // Qwen2 has no attention_bias: transformers ignores it (tests/test_model_config.cpp checks nothing is computed).
  EXPECT_EQ(load_error(R"({"model_type": "qwen2", "hidden_size": 64, "intermediate_size": 128,
    "num_attention_heads": 8, "num_key_value_heads": 4, "num_hidden_layers": 2, "vocab_size": 100,
    "max_position_embeddings": 64, "attention_bias": true})"), "no error");
}

ModelConfig with_rope(const std::string& rope_scaling, int head_dim, double theta, int max_positions) {
  const auto path = own_temp("_rope.json");
  std::ofstream(path) << fmt::format(R"({{"model_type": "llama", "hidden_size": {}, "intermediate_size": 64,
    "num_attention_heads": 2, "num_hidden_layers": 1, "vocab_size": 10, "max_position_embeddings": {},
    "rope_theta": {}, "rope_scaling": {}}})", 2 * head_dim, max_positions, theta, rope_scaling);
  return load_model_file(path);
}

// Expected values: transformers' formulas (modeling_rope_utils.py) evaluated in Python, float64.
TEST(ModelMath, RopeScalingLlama3AsTransformersComputesIt) {
  const ModelConfig m = with_rope(R"({"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
    "high_freq_factor": 4.0, "original_max_position_embeddings": 8192})", 128, 500000.0, 131072);
  const RopeFrequencies r = rope_frequencies(m, 64);
  ASSERT_EQ(r.inv_freq.size(), 64u);
  EXPECT_DOUBLE_EQ(r.attention_factor, 1.0);
  const std::pair<int, double> want[] = {{0, 1.0}, {20, 0.016560440080994446}, {29, 0.002166570763503359},
                                         {32, 0.0005248461609929547}, {35, 9.556212354e-05},
                                         {40, 3.428102195952591e-05}, {63, 3.068925988914511e-07}};
  for (const auto& [i, f] : want) EXPECT_NEAR(r.inv_freq[static_cast<std::size_t>(i)] / f, 1.0, 1e-9) << i;
}

TEST(ModelMath, RopeScalingYarnLinearAndDynamic) {
  const ModelConfig yarn = with_rope(R"({"rope_type": "yarn", "factor": 4.0,
    "original_max_position_embeddings": 32768})", 128, 1e6, 131072);
  const RopeFrequencies y = rope_frequencies(yarn, 64);
  EXPECT_NEAR(y.attention_factor, 1.138629436111989, 1e-12);  // 0.1 ln 4 + 1
  const std::pair<int, double> want[] = {{0, 1.0}, {20, 0.01333521432163324}, {30, 0.0010643609812470017},
                                         {40, 4.445698525097307e-05}, {63, 3.102344401879299e-07}};
  for (const auto& [i, f] : want) EXPECT_NEAR(y.inv_freq[static_cast<std::size_t>(i)] / f, 1.0, 1e-12) << i;

  const ModelConfig plain = with_rope("null", 64, 10000.0, 512);
  const ModelConfig linear = with_rope(R"({"type": "linear", "factor": 2.0})", 64, 10000.0, 512);
  const ModelConfig dynamic = with_rope(R"({"rope_type": "dynamic", "factor": 2.0})", 64, 10000.0, 512);
  const RopeFrequencies p = rope_frequencies(plain, 512), l = rope_frequencies(linear, 512),
                        d = rope_frequencies(dynamic, 512);
  for (std::size_t i = 0; i < p.inv_freq.size(); ++i) {
    EXPECT_DOUBLE_EQ(l.inv_freq[i], p.inv_freq[i] / 2.0);
    EXPECT_DOUBLE_EQ(d.inv_freq[i], p.inv_freq[i]);  // within max_position_embeddings, dynamic is the default
  }
  // Beyond them (never run by llmthreads, which refuses such a context) the base grows as transformers does.
  EXPECT_LT(rope_frequencies(dynamic, 1024).inv_freq.back(), p.inv_freq.back());
}

TEST(ModelMath, Gpt2ActivationFunctionPicksTheGeluForm) {
  const std::string base = R"({"model_type": "gpt2", "n_embd": 16, "n_head": 4, "n_layer": 2, "vocab_size": 50,
    "n_positions": 32, "activation_function": ")";
  for (const auto& [name, form] : {std::pair{"gelu", GeluForm::erf}, std::pair{"gelu_new", GeluForm::tanh},
                                   std::pair{"gelu_pytorch_tanh", GeluForm::tanh}}) {
    const auto path = own_temp(std::string("_") + name + ".json");
    std::ofstream(path) << base << name << "\"}";
    EXPECT_EQ(load_model_file(path).gelu, form) << name;
  }
  EXPECT_EQ(load_model("gpt2").gelu, GeluForm::tanh);  // GPT-2 publishes gelu_new
}

}  // namespace
}  // namespace llmt

namespace llmt {
namespace {

TEST(Checkpoints, HalfPrecisionStorageConvertsExactly) {
  EXPECT_EQ(bf16_to_float(0x3F80), 1.0f);
  EXPECT_EQ(bf16_to_float(0xC000), -2.0f);
  EXPECT_EQ(bf16_to_float(0x3EAB), 0.333984375f);
  EXPECT_EQ(fp16_to_float(0x3C00), 1.0f);
  EXPECT_EQ(fp16_to_float(0x3555), 0.333251953125f);
  EXPECT_EQ(fp16_to_float(0x7BFF), 65504.0f);
  EXPECT_EQ(fp16_to_float(0x0001), 0x1p-24f);  // the smallest subnormal
  EXPECT_EQ(fp16_to_float(0x83FF), -1023 * 0x1p-24f);
  EXPECT_TRUE(std::isinf(fp16_to_float(0xFC00)) && fp16_to_float(0xFC00) < 0);
  EXPECT_TRUE(std::isnan(fp16_to_float(0x7E00)));
}

// A bf16 tensor read as a block, both as stored [out, in] and transposed [in, out] (GPT-2's Conv1D).
TEST(Checkpoints, ReadsBlocksOfBf16TensorsInEitherLayout) {
  const auto dir = own_temp("_ckpt");
  std::filesystem::create_directories(dir);
  const std::uint16_t values[6] = {0x3F80, 0x4000, 0x4040, 0x4080, 0x40A0, 0x40C0};  // 1 .. 6, shape [2, 3]
  std::string header = R"({"w": {"dtype": "BF16", "shape": [2, 3], "data_offsets": [0, 12]}})";
  header.append((8 - header.size() % 8) % 8, ' ');
  std::ofstream out(dir / "model.safetensors", std::ios::binary);
  const std::uint64_t length = header.size();
  out.write(reinterpret_cast<const char*>(&length), 8);
  out << header;
  out.write(reinterpret_cast<const char*>(values), sizeof(values));
  out.close();
  const auto ckpt = Checkpoint::open(dir);
  EXPECT_EQ(ckpt->tensor_count(), 1u);
  EXPECT_EQ(ckpt->read(HfLocation{{"w"}, {2, 3}}, 0, 1, 2, 2), (std::vector<float>{2, 3, 5, 6}));
  // Transposed: the logical tensor is [3, 2] = w^T; its row 2 is w's column 2.
  EXPECT_EQ(ckpt->read(HfLocation{{"w"}, {2, 3}, true}, 2, 0, 1, 2), (std::vector<float>{3, 6}));
  EXPECT_THROW(ckpt->read(HfLocation{{"w"}, {3, 2}}, 0, 0, 1, 1), ModelError);   // shape mismatch
  EXPECT_THROW(ckpt->read(HfLocation{{"nope"}, {2, 3}}, 0, 0, 1, 1), ModelError);  // absent
}

}  // namespace
}  // namespace llmt
