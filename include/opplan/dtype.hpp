// DType: the element types of tensors, and the number formats device peaks are quoted in.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include <opplan/version.hpp>

OPPLAN_BEGIN_NAMESPACE

// Element type of a tensor.
// Element type of a tensor.
enum class DType : std::uint8_t { kF32, kF16, kBF16, kF64, kF8, kI64, kI32, kI16, kI8, kU8, kBool };

// "f32", "f16", "bf16", "f64", "f8", "i64", "i32", "i16", "i8", "u8", "bool".
OPPLAN_EXPORT const char* to_string(DType dtype);
OPPLAN_EXPORT std::optional<DType> parse_dtype(std::string_view name);
OPPLAN_EXPORT int size_in_bytes(DType dtype);

OPPLAN_END_NAMESPACE
