// Error types thrown at host boundaries. Each carries a message a user can act on.
#pragma once

#include <stdexcept>
#include <string>

namespace llmt {

// Base of every error llmthreads reports to the user without a stack trace.
struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A model description is missing, malformed or inconsistent; the message names file and field.
struct ModelError : Error {
  using Error::Error;
};

// A command-line value or combination that cannot be run.
struct ConfigError : Error {
  using Error::Error;
};

// A rank failed, or a collective was abandoned because another rank failed.
struct RankError : Error {
  using Error::Error;
};

}  // namespace llmt
