// Element types the engine knows, their sizes and the verification tolerance of each.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace llmt {

enum class DType { f32, f16, bf16 };

std::size_t dtype_size(DType t);
std::string_view dtype_name(DType t);
// Accepts fp32/float32/f32, fp16/float16/f16/half, bf16/bfloat16.
std::optional<DType> parse_dtype(std::string_view s);

}  // namespace llmt
