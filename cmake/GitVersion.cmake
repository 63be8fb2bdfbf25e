# Run at build time: writes the git commit of the source tree into a header, touching it only
# when the commit (or its dirty state) changed, so that rebuilds stay incremental.
execute_process(COMMAND git -C "${SRC}" rev-parse --short=12 HEAD
  OUTPUT_VARIABLE _commit OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET RESULT_VARIABLE _rc)
if(NOT _rc EQUAL 0 OR _commit STREQUAL "")
  set(_commit "unknown")
else()
  execute_process(COMMAND git -C "${SRC}" status --porcelain --untracked-files=no
    OUTPUT_VARIABLE _dirty OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  if(NOT _dirty STREQUAL "")
    set(_commit "${_commit}-dirty")
  endif()
endif()
set(_content "#pragma once\n#define LLMT_GIT_COMMIT \"${_commit}\"\n")
if(EXISTS "${OUT}")
  file(READ "${OUT}" _old)
endif()
if(NOT "${_old}" STREQUAL "${_content}")
  file(WRITE "${OUT}" "${_content}")
endif()
