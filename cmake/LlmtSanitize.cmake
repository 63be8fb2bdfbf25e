# Sanitizer and fuzzer builds (see DEVELOPERS.md, "Sanitizers and fuzzers").
#   LLMT_SANITIZE=address,undefined  ASan + UBSan: any finding aborts the process (a failed test)
#   LLMT_SANITIZE=thread             TSan
#   LLMT_FUZZ=ON                     clang only: libFuzzer coverage on every target, and the
#                                    tests/fuzz/ targets linked with libFuzzer's main
# Use a build directory of its own for each, configured with -DLLMT_CUDA=OFF.
set(LLMT_SANITIZE "" CACHE STRING "Sanitizers to build with: address,undefined | thread | empty for none")
option(LLMT_FUZZ "Build the libFuzzer targets under tests/fuzz (needs clang)" OFF)

if(LLMT_SANITIZE)
  if(LLMT_SANITIZE MATCHES "thread" AND LLMT_SANITIZE MATCHES "address")
    message(FATAL_ERROR "LLMT_SANITIZE: thread and address cannot be combined; use two build directories")
  endif()
  if(NOT LLMT_SANITIZE MATCHES "^(address|undefined|thread|leak)(,(address|undefined|thread|leak))*$")
    message(FATAL_ERROR "LLMT_SANITIZE=${LLMT_SANITIZE}: expected a comma-separated list of address, undefined, thread, leak")
  endif()
  if(LLMT_WITH_CUDA)
    message(FATAL_ERROR "LLMT_SANITIZE needs a CPU-only build: configure it with -DLLMT_CUDA=OFF")
  endif()
  # -g1: line tables for the reports' stacks, at a fraction of full debug info's build time.
  set(llmt_sanitize_flags -fsanitize=${LLMT_SANITIZE} -fno-omit-frame-pointer -g1)
  if(LLMT_SANITIZE MATCHES "undefined")
    # UBSan only prints by default: make every finding fatal so that the test that hit it fails.
    list(APPEND llmt_sanitize_flags -fno-sanitize-recover=all)
  endif()
  add_compile_options("$<$<COMPILE_LANGUAGE:CXX>:${llmt_sanitize_flags}>")
  add_link_options(-fsanitize=${LLMT_SANITIZE})
  message(STATUS "llmthreads: sanitizers ${LLMT_SANITIZE}")
endif()

if(LLMT_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "LLMT_FUZZ needs clang (libFuzzer): configure with -DCMAKE_CXX_COMPILER=clang++")
  endif()
  if(LLMT_WITH_CUDA)
    message(FATAL_ERROR "LLMT_FUZZ needs a CPU-only build: configure it with -DLLMT_CUDA=OFF")
  endif()
  # Coverage feedback everywhere; only the fuzz targets link libFuzzer's main (tests/fuzz).
  add_compile_options("$<$<COMPILE_LANGUAGE:CXX>:-fsanitize=fuzzer-no-link>")
  message(STATUS "llmthreads: libFuzzer targets")
endif()
