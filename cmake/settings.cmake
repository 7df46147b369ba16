# INTERFACE targets shared by every Tegu target: warnings and sanitizers.
add_library(tegu_warnings INTERFACE)
add_library(tegu::warnings ALIAS tegu_warnings)
target_compile_options(tegu_warnings INTERFACE -Wall -Wextra -Wpedantic -Wnon-virtual-dtor
                       -Wno-unused-parameter)
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
  # GCC 12 reports false -Wrestrict errors inside std::string at -O3 (GCC bug 105329).
  target_compile_options(tegu_warnings INTERFACE -Wno-restrict)
endif()
if(TEGU_WERROR)
  target_compile_options(tegu_warnings INTERFACE -Werror)
endif()

add_library(tegu_sanitizers INTERFACE)
add_library(tegu::sanitizers ALIAS tegu_sanitizers)
if(TEGU_SANITIZE STREQUAL "address")
  target_compile_options(tegu_sanitizers INTERFACE -fsanitize=address,undefined
                         -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  target_link_options(tegu_sanitizers INTERFACE -fsanitize=address,undefined)
elseif(TEGU_SANITIZE STREQUAL "thread")
  target_compile_options(tegu_sanitizers INTERFACE -fsanitize=thread -fno-omit-frame-pointer)
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    # std::promise and Asio use atomic_thread_fence, which GCC warns TSan cannot model.
    target_compile_options(tegu_sanitizers INTERFACE -Wno-tsan)
  endif()
  target_link_options(tegu_sanitizers INTERFACE -fsanitize=thread)
elseif(NOT TEGU_SANITIZE STREQUAL "")
  message(FATAL_ERROR "TEGU_SANITIZE must be '', 'address' or 'thread', not '${TEGU_SANITIZE}'")
endif()
