# Helpers for the layer libraries, tests and benchmarks (LevelDB leveldb_test(), Arrow
# ADD_ARROW_TEST).

# tegu_add_module(NAME SOURCES...) — one layer = one OBJECT library folded into libtegu.
function(tegu_add_module name)
  add_library(tegu_${name} OBJECT ${ARGN})
  target_include_directories(tegu_${name} PUBLIC
    $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include>
    $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/src>)
  target_link_libraries(tegu_${name} PRIVATE tegu::warnings tegu::sanitizers Threads::Threads)
  set_property(GLOBAL APPEND PROPERTY TEGU_MODULES tegu_${name})
endfunction()

# tegu_add_test(NAME SOURCES...) — a GoogleTest binary registered with ctest.
function(tegu_add_test name)
  add_executable(${name} ${ARGN})
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/src ${PROJECT_SOURCE_DIR}/tests)
  target_link_libraries(${name} PRIVATE tegu GTest::gtest_main tegu::warnings tegu::sanitizers)
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES TIMEOUT 300)
endfunction()

# tegu_add_benchmark(NAME SOURCES...) — a Google Benchmark driver.
function(tegu_add_benchmark name)
  add_executable(${name} ${ARGN})
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(${name} PRIVATE tegu benchmark::benchmark tegu::warnings)
endfunction()
