// Status and Result<T>: opplan's one outcome channel for operations that can fail on bad input.
//
// Functions that read user data (files, graphs, clusters) never throw for bad data and never abort:
// they return a Status (or a Result<T> holding either a value or a non-OK Status) whose message
// names the file, the JSON path or the op, and says what is wrong. Exceptions are reserved for
// programming errors such as passing an id that does not belong to the object (std::out_of_range)
// or reading the value of a failed Result (std::logic_error).
#pragma once

#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

#include <opplan/version.hpp>

OPPLAN_BEGIN_NAMESPACE

enum class StatusCode : int {
  kOk = 0,
  kInvalidArgument,     // the input violates a documented rule (negative FLOPs, a cycle, ...)
  kNotFound,            // a named thing does not exist (op, device, preset, file)
  kParseError,          // text that is not well-formed (malformed JSON, wrong types)
  kUnsupported,         // well-formed but not supported (unknown format version)
  kIoError,             // a file could not be read or written
  kFailedPrecondition,  // the operation does not apply to this state
  kInternal,            // a bug in opplan: please report it
};

OPPLAN_EXPORT const char* to_string(StatusCode code);

class OPPLAN_EXPORT Status {
 public:
  Status() = default;  // OK
  Status(StatusCode code, std::string message);

  static Status Ok() { return {}; }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // "OK" or "<code>: <message>".
  std::string to_string() const;

  // A copy whose message is "<context>: <message>" (no-op on OK), e.g. to name the file.
  Status with_context(std::string_view context) const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

// Either a value or the Status that explains why there is none.
template <typename T>
class Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design, like std::optional
  Result(Status status) : status_(std::move(status)) {  // NOLINT
    if (status_.ok()) status_ = Status(StatusCode::kInternal, "Result constructed from an OK status without a value");
  }

  bool ok() const { return value_.has_value(); }
  explicit operator bool() const { return ok(); }
  const Status& status() const { return status_; }

  // Throws std::logic_error carrying the status message when there is no value.
  const T& value() const& { check(); return *value_; }
  T& value() & { check(); return *value_; }
  T&& value() && { check(); return std::move(*value_); }
  const T& operator*() const& { return value(); }
  T& operator*() & { return value(); }
  const T* operator->() const { return &value(); }
  T* operator->() { return &value(); }

 private:
  void check() const {
    if (!value_) throw std::logic_error("opplan::Result has no value: " + status_.to_string());
  }
  std::optional<T> value_;
  Status status_;
};

OPPLAN_END_NAMESPACE
