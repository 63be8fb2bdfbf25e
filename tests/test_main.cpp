// The test programs' main: registers this build's backends (as cli/main.cpp does) before
// GoogleTest runs anything.
#include <gtest/gtest.h>

#include "kernels/builtin_backends.hpp"

int main(int argc, char** argv) {
  llmt::register_builtin_backends();
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
