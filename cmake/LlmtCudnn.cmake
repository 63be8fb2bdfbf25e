# Decides whether the CUDA backend gets cuDNN's fused attention (included by LlmtCuda.cmake once
# the CUDA backend is on). LLMT_CUDNN: AUTO (use it when cuDNN 9 and the cudnn-frontend headers
# are both found), ON (require them), OFF (never; attention uses the engine's own kernel).
# cuDNN comes with the CUDA install (or CUDNN_ROOT); the header-only cudnn-frontend is fetched
# from PyPI by scripts/install-deps.sh into .deps/cudnn-frontend (or CUDNN_FRONTEND_ROOT).
# Sets LLMT_WITH_CUDNN and the targets llmt::cudnn and llmt::cudnn_frontend.
set(LLMT_CUDNN "AUTO" CACHE STRING "Fused attention through cuDNN: AUTO, ON or OFF")
set_property(CACHE LLMT_CUDNN PROPERTY STRINGS AUTO ON OFF)
string(TOUPPER "${LLMT_CUDNN}" _llmt_cudnn)
if(NOT _llmt_cudnn MATCHES "^(AUTO|ON|OFF)$")
  message(FATAL_ERROR "LLMT_CUDNN must be AUTO, ON or OFF (got '${LLMT_CUDNN}')")
endif()
set(LLMT_WITH_CUDNN OFF)
if(_llmt_cudnn STREQUAL "OFF")
  message(STATUS "llmthreads: cuDNN attention disabled (LLMT_CUDNN=OFF)")
  return()
endif()

set(_llmt_cudnn_missing "")
find_path(LLMT_CUDNN_INCLUDE_DIR cudnn_version.h
  HINTS ${CUDNN_ROOT} $ENV{CUDNN_ROOT} ${CUDAToolkit_INCLUDE_DIRS} PATH_SUFFIXES include)
find_library(LLMT_CUDNN_LIBRARY cudnn
  HINTS ${CUDNN_ROOT} $ENV{CUDNN_ROOT} ${CUDAToolkit_LIBRARY_DIR} PATH_SUFFIXES lib lib64)
mark_as_advanced(LLMT_CUDNN_INCLUDE_DIR LLMT_CUDNN_LIBRARY)
if(LLMT_CUDNN_INCLUDE_DIR AND LLMT_CUDNN_LIBRARY)
  file(STRINGS "${LLMT_CUDNN_INCLUDE_DIR}/cudnn_version.h" _v REGEX "^#define CUDNN_(MAJOR|MINOR|PATCHLEVEL) ")
  string(REGEX REPLACE ".*CUDNN_MAJOR ([0-9]+).*" "\\1" _major "${_v}")
  string(REGEX REPLACE ".*CUDNN_MINOR ([0-9]+).*" "\\1" _minor "${_v}")
  string(REGEX REPLACE ".*CUDNN_PATCHLEVEL ([0-9]+).*" "\\1" _patch "${_v}")
  if(_major LESS 9)
    message(STATUS "llmthreads: cuDNN      found ${_major}.${_minor}.${_patch}, but 9 or newer is needed")
    list(APPEND _llmt_cudnn_missing "cuDNN 9")
  else()
    message(STATUS "llmthreads: cuDNN      found: ${_major}.${_minor}.${_patch} (${LLMT_CUDNN_LIBRARY})")
  endif()
else()
  message(STATUS "llmthreads: cuDNN      not found (set CUDNN_ROOT)")
  list(APPEND _llmt_cudnn_missing cuDNN)
endif()

find_path(LLMT_CUDNN_FRONTEND_INCLUDE_DIR cudnn_frontend.h
  HINTS ${CUDNN_FRONTEND_ROOT} $ENV{CUDNN_FRONTEND_ROOT} "${PROJECT_SOURCE_DIR}/.deps/cudnn-frontend"
  PATH_SUFFIXES include NO_DEFAULT_PATH)
mark_as_advanced(LLMT_CUDNN_FRONTEND_INCLUDE_DIR)
if(LLMT_CUDNN_FRONTEND_INCLUDE_DIR)
  file(STRINGS "${LLMT_CUDNN_FRONTEND_INCLUDE_DIR}/cudnn_frontend_version.h" _v
       REGEX "^#define CUDNN_FRONTEND_(MAJOR|MINOR|PATCH)_VERSION ")
  string(REGEX REPLACE ".*MAJOR_VERSION ([0-9]+).*" "\\1" _major "${_v}")
  string(REGEX REPLACE ".*MINOR_VERSION ([0-9]+).*" "\\1" _minor "${_v}")
  string(REGEX REPLACE ".*PATCH_VERSION ([0-9]+).*" "\\1" _patch "${_v}")
  message(STATUS "llmthreads: cudnn-frontend found: ${_major}.${_minor}.${_patch} (${LLMT_CUDNN_FRONTEND_INCLUDE_DIR})")
else()
  message(STATUS "llmthreads: cudnn-frontend not found (scripts/install-deps.sh fetches it; or set CUDNN_FRONTEND_ROOT)")
  list(APPEND _llmt_cudnn_missing cudnn-frontend)
endif()

if(_llmt_cudnn_missing)
  if(_llmt_cudnn STREQUAL "ON")
    message(FATAL_ERROR "LLMT_CUDNN=ON but missing: ${_llmt_cudnn_missing}")
  endif()
  message(STATUS "llmthreads: cuDNN attention not built (missing: ${_llmt_cudnn_missing}); the naive kernel serves attention")
  return()
endif()

add_library(llmt::cudnn UNKNOWN IMPORTED)
set_target_properties(llmt::cudnn PROPERTIES
  IMPORTED_LOCATION "${LLMT_CUDNN_LIBRARY}"
  INTERFACE_INCLUDE_DIRECTORIES "${LLMT_CUDNN_INCLUDE_DIR}")
# Header-only (an imported target: its headers are system headers, outside our warnings). Its JSON
# serialisation is not used (and would bring a second copy of nlohmann/json).
add_library(llmt::cudnn_frontend INTERFACE IMPORTED)
set_target_properties(llmt::cudnn_frontend PROPERTIES
  INTERFACE_INCLUDE_DIRECTORIES "${LLMT_CUDNN_FRONTEND_INCLUDE_DIR}"
  INTERFACE_COMPILE_DEFINITIONS "CUDNN_FRONTEND_SKIP_JSON_LIB")
set(LLMT_WITH_CUDNN ON)
