// Tests of tegu::config: defaults, dotted keys, the `_`/`-` equivalence, TEGU_* variables, YAML
// files from $HOME/.config/tegu and $TEGU_CONFIG, and the Refresh/Delete/UpdateDefaults rules.
// Every test runs with HOME pointing at a fresh temporary directory and no TEGU_* variables, so
// the configuration of the machine running the tests cannot leak in.

#include "tegu/config.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

namespace tegu::config {
namespace {

namespace fs = std::filesystem;

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "tegu-config-test-XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    if (const char* home = std::getenv("HOME")) saved_home_ = home;
    // Stash and clear TEGU_* so a developer's environment does not change the results.
    for (const std::string& name : TeguVariables()) {
      saved_env_.emplace_back(name, std::getenv(name.c_str()));
      unsetenv(name.c_str());
    }
    home_ = dir_ / "home";
    fs::create_directories(home_);
    setenv("HOME", home_.c_str(), 1);
    Refresh();
  }

  void TearDown() override {
    for (const std::string& name : TeguVariables()) unsetenv(name.c_str());
    for (const auto& [name, value] : saved_env_) setenv(name.c_str(), value.c_str(), 1);
    if (saved_home_) {
      setenv("HOME", saved_home_->c_str(), 1);
    } else {
      unsetenv("HOME");
    }
    std::error_code ec;
    fs::remove_all(dir_, ec);
    Refresh();
  }

  static std::vector<std::string> TeguVariables() {
    std::vector<std::string> names;
    for (char** entry = environ; *entry != nullptr; ++entry) {
      std::string item(*entry);
      if (item.starts_with("TEGU_")) names.push_back(item.substr(0, item.find('=')));
    }
    return names;
  }

  fs::path Write(const fs::path& path, const std::string& text) {
    fs::create_directories(path.parent_path());
    std::ofstream(path) << text;
    return path;
  }

  fs::path dir_;
  fs::path home_;
  std::optional<std::string> saved_home_;
  std::vector<std::pair<std::string, std::string>> saved_env_;
};

TEST_F(ConfigTest, BuiltInDefaults) {
  EXPECT_TRUE(GetBool("optimization.fuse.active", false));
  EXPECT_TRUE(GetBool("optimization.inline.active", false));
  EXPECT_EQ(GetString("visualization.engine", ""), "graphviz");
  EXPECT_EQ(GetJson("scheduler"), "null");
  EXPECT_EQ(GetJson("num-workers"), "null");
  EXPECT_EQ(GetJson("temporary-directory"), "null");
  EXPECT_EQ(GetJson("optimization.fuse"), R"({"active":true})");
  EXPECT_EQ(ToJson(),
            R"({"num-workers":null,"optimization":{"fuse":{"active":true},"inline":)"
            R"({"active":true}},"scheduler":null,"temporary-directory":null,)"
            R"("visualization":{"engine":"graphviz"}})");
  EXPECT_TRUE(LoadWarnings().empty());
}

TEST_F(ConfigTest, MissingKeysGiveNulloptOrFallback) {
  EXPECT_EQ(GetJson("no-such-key"), std::nullopt);
  EXPECT_EQ(GetJson("optimization.fuse.active.deeper"), std::nullopt);
  EXPECT_EQ(GetJson(""), std::nullopt);
  EXPECT_EQ(GetJson("optimization..fuse"), std::nullopt);
  // A null value is present but has no type, so the typed helpers fall back.
  EXPECT_EQ(GetString("scheduler", "sync"), "sync");
  EXPECT_EQ(GetInt("num-workers", 7), 7);
  EXPECT_EQ(GetInt("no.such.key", -1), -1);
}

TEST_F(ConfigTest, TypedHelpersFallBackOnOtherTypes) {
  ASSERT_TRUE(SetJson("t.int", "4").ok());
  ASSERT_TRUE(SetJson("t.float", "1.5").ok());
  ASSERT_TRUE(SetJson("t.str", R"("4")").ok());
  ASSERT_TRUE(SetJson("t.huge", "18446744073709551615").ok());
  EXPECT_EQ(GetInt("t.int", 0), 4);
  EXPECT_EQ(GetDouble("t.int", 0), 4.0);  // an integer is a fine double
  EXPECT_EQ(GetDouble("t.float", 0), 1.5);
  EXPECT_EQ(GetInt("t.float", -1), -1);  // but a float is not an integer
  EXPECT_EQ(GetInt("t.str", -1), -1);
  EXPECT_EQ(GetString("t.int", "x"), "x");
  EXPECT_EQ(GetString("t.str", "x"), "4");
  EXPECT_EQ(GetBool("t.str", true), true);
  EXPECT_EQ(GetInt("t.huge", -1), -1);  // does not fit int64
}

TEST_F(ConfigTest, DottedSetAndGet) {
  ASSERT_TRUE(SetJson("optimization.fuse.active", "false").ok());
  EXPECT_FALSE(GetBool("optimization.fuse.active", true));
  EXPECT_TRUE(GetBool("optimization.inline.active", false));  // the sibling is untouched

  ASSERT_TRUE(SetJson("a.b.c", R"({"d": 1, "e": [1, "two"]})").ok());
  EXPECT_EQ(GetInt("a.b.c.d", 0), 1);
  EXPECT_EQ(GetJson("a.b.c.e"), R"([1,"two"])");
  EXPECT_EQ(GetJson("a"), R"({"b":{"c":{"d":1,"e":[1,"two"]}}})");

  // A null intermediate (a default that is not set) becomes a mapping.
  ASSERT_TRUE(SetJson("scheduler.address", R"("tcp://h:8786")").ok());
  EXPECT_EQ(GetString("scheduler.address", ""), "tcp://h:8786");

  ASSERT_TRUE(SetJson("scheduler", R"("threads")").ok());
  EXPECT_EQ(GetString("scheduler", ""), "threads");
  ASSERT_TRUE(SetJson("scheduler", "null").ok());
  EXPECT_EQ(GetJson("scheduler"), "null");
}

TEST_F(ConfigTest, SetRejectsBadInputWithoutChangingAnything) {
  Status bad_json = SetJson("optimization.fuse.active", "{not json");
  EXPECT_EQ(bad_json.code(), StatusCode::kInvalid);
  EXPECT_NE(bad_json.message().find("optimization.fuse.active"), std::string::npos)
      << bad_json.message();
  EXPECT_TRUE(GetBool("optimization.fuse.active", false));

  Status through_scalar = SetJson("visualization.engine.x.y", "1");
  EXPECT_EQ(through_scalar.code(), StatusCode::kInvalid);
  EXPECT_NE(through_scalar.message().find("visualization.engine"), std::string::npos)
      << through_scalar.message();
  EXPECT_EQ(GetString("visualization.engine", ""), "graphviz");

  EXPECT_EQ(SetJson("a..b", "1").code(), StatusCode::kInvalid);
  EXPECT_EQ(SetJson("", "1").code(), StatusCode::kInvalid);
  EXPECT_EQ(GetJson("a"), std::nullopt);
}

TEST_F(ConfigTest, UnderscoreAndHyphenAreOneCharacter) {
  ASSERT_TRUE(SetJson("num_workers", "4").ok());
  EXPECT_EQ(GetInt("num-workers", 0), 4);
  EXPECT_EQ(GetInt("num_workers", 0), 4);
  EXPECT_EQ(ToJson().find("num_workers"), std::string::npos);

  ASSERT_TRUE(SetJson("temporary-directory", R"("/scratch")").ok());
  EXPECT_EQ(GetString("temporary_directory", ""), "/scratch");

  // Keys inside a value are canonical too.
  ASSERT_TRUE(SetJson("my_module", R"({"chunk_size": 10, "inner": {"a_b": true}})").ok());
  EXPECT_EQ(GetJson("my-module"), R"({"chunk-size":10,"inner":{"a-b":true}})");
  EXPECT_TRUE(GetBool("my_module.inner.a_b", false));
  // Values are data: underscores in strings stay.
  ASSERT_TRUE(SetJson("path", R"("/tmp/a_b")").ok());
  EXPECT_EQ(GetString("path", ""), "/tmp/a_b");
}

TEST_F(ConfigTest, FrontEndMarkersKeepTheirSpelling) {
  ASSERT_TRUE(SetJson("client", R"({"__tegu_pyobject__": 140234})").ok());
  EXPECT_EQ(GetJson("client"), R"({"__tegu_pyobject__":140234})");
}

TEST_F(ConfigTest, EnvironmentVariables) {
  setenv("TEGU_SCHEDULER", "threads", 1);
  setenv("TEGU_OPTIMIZATION__FUSE__ACTIVE", "false", 1);
  setenv("TEGU_NUM_WORKERS", "4", 1);
  setenv("TEGU_SOME__RATIO", "1.5", 1);
  setenv("TEGU_SOME__LIST", "[1, 2]", 1);
  setenv("TEGU_SOME__MAP", "{chunk_size: 8, name: x}", 1);
  setenv("TEGU_SOME__WORDS", "hello world", 1);
  setenv("TEGU_SOME__QUOTED", "\"4\"", 1);
  setenv("TEGU_SOME__NORWAY", "no", 1);  // YAML 1.2: a string, not false
  setenv("TEGU_SOME__BROKEN", "[1, 2", 1);
  setenv("TEGU_SOME__COLON", "a: b", 1);
  setenv("TEGU_SOME__EMPTY", "", 1);
  setenv("TEGU_SOME__HEX", "0x1f", 1);
  setenv("TEGU_SOME__BIG", "1e3", 1);
  setenv("TEGU_SOME__NONE", "null", 1);
  Refresh();

  EXPECT_EQ(GetJson("scheduler"), R"("threads")");
  EXPECT_EQ(GetJson("optimization.fuse.active"), "false");
  EXPECT_TRUE(GetBool("optimization.inline.active", false));  // merged, not replaced
  EXPECT_EQ(GetJson("num-workers"), "4");
  EXPECT_EQ(GetJson("some.ratio"), "1.5");
  EXPECT_EQ(GetJson("some.list"), "[1,2]");
  EXPECT_EQ(GetJson("some.map"), R"({"chunk-size":8,"name":"x"})");
  EXPECT_EQ(GetJson("some.words"), R"("hello world")");
  EXPECT_EQ(GetJson("some.quoted"), R"("4")");
  EXPECT_EQ(GetJson("some.norway"), R"("no")");
  EXPECT_EQ(GetJson("some.broken"), R"("[1, 2")");
  EXPECT_EQ(GetJson("some.colon"), R"("a: b")");
  EXPECT_EQ(GetJson("some.empty"), "null");
  EXPECT_EQ(GetJson("some.hex"), "31");
  EXPECT_EQ(GetDouble("some.big", 0), 1000.0);
  EXPECT_EQ(GetJson("some.none"), "null");
}

TEST_F(ConfigTest, EnvironmentScalarsFollowTheYamlCoreSchema) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"+4", "4"},          {"-12", "-12"},        {"0o17", "15"},      {"0x1F", "31"},
      {"-.5", "-0.5"},      {"+.5", "0.5"},        {"5.", "5.0"},       {"2.5e-1", "0.25"},
      {"True", "true"},     {"FALSE", "false"},    {"~", "null"},       {"1.5.6", R"("1.5.6")"},
      {"0x", R"("0x")"},    {"0o8", R"("0o8")"},   {"1e", R"("1e")"},   {"yes", R"("yes")"},
      {"10GB", R"("10GB")"}, {"'quoted'", R"("quoted")"}, {"  7  ", "7"},
      {"99999999999999999999", "1e+20"},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    setenv(("TEGU_SCALARS__V" + std::to_string(i)).c_str(), cases[i].first.c_str(), 1);
  }
  Refresh();
  for (size_t i = 0; i < cases.size(); ++i) {
    EXPECT_EQ(GetJson("scalars.v" + std::to_string(i)), cases[i].second)
        << "TEGU_SCALARS__V" << i << "=" << cases[i].first;
  }
  setenv("TEGU_SCALARS__INF", "-.inf", 1);
  setenv("TEGU_SCALARS__NAN", ".NaN", 1);
  Refresh();
  EXPECT_EQ(GetDouble("scalars.inf", 0), -INFINITY);
  EXPECT_TRUE(std::isnan(GetDouble("scalars.nan", 0)));
}

TEST_F(ConfigTest, ConfigPathVariableIsNotASetting) {
  setenv("TEGU_CONFIG", (dir_ / "nothing-here").c_str(), 1);
  Refresh();
  EXPECT_EQ(GetJson("config"), std::nullopt);
  // A path that was asked for and is missing is worth a warning.
  ASSERT_EQ(LoadWarnings().size(), 1u);
  EXPECT_NE(LoadWarnings()[0].find("nothing-here"), std::string::npos);
}

TEST_F(ConfigTest, YamlFileFromConfigVariable) {
  fs::path file = Write(dir_ / "tegu.yaml", R"(# a comment
scheduler: sync
num_workers: 3
optimization:
  inline:
    active: false
visualization:
  engine: "cytoscape"
my-module:
  quoted: "true"
  list: [1, 2.5, x]
  block:
    - a
    - b
  nothing: ~
  country: no
)");
  setenv("TEGU_CONFIG", file.c_str(), 1);
  Refresh();
  EXPECT_TRUE(LoadWarnings().empty());
  EXPECT_EQ(GetString("scheduler", ""), "sync");
  EXPECT_EQ(GetInt("num-workers", 0), 3);
  EXPECT_FALSE(GetBool("optimization.inline.active", true));
  EXPECT_TRUE(GetBool("optimization.fuse.active", false));  // deep-merged with the defaults
  EXPECT_EQ(GetString("visualization.engine", ""), "cytoscape");
  EXPECT_EQ(GetJson("my-module.quoted"), R"("true")");
  EXPECT_EQ(GetJson("my-module.list"), R"([1,2.5,"x"])");
  EXPECT_EQ(GetJson("my-module.block"), R"(["a","b"])");
  EXPECT_EQ(GetJson("my-module.nothing"), "null");
  EXPECT_EQ(GetJson("my-module.country"), R"("no")");

  // The environment wins over files.
  setenv("TEGU_SCHEDULER", "threads", 1);
  Refresh();
  EXPECT_EQ(GetString("scheduler", ""), "threads");
  EXPECT_EQ(GetInt("num-workers", 0), 3);
}

TEST_F(ConfigTest, YamlDirectoryFromConfigVariable) {
  fs::path dir = dir_ / "conf.d";
  Write(dir / "b.yml", "scheduler: processes\nextra:\n  from-b: 2\n");
  Write(dir / "a.yaml", "scheduler: sync\nextra:\n  from-a: 1\n");
  Write(dir / "c.json", R"({"extra": {"from-c": 3}})");
  Write(dir / "notes.txt", "scheduler: ignored\n");
  setenv("TEGU_CONFIG", dir.c_str(), 1);
  Refresh();
  EXPECT_TRUE(LoadWarnings().empty());
  EXPECT_EQ(GetString("scheduler", ""), "processes");  // b.yml is read after a.yaml
  EXPECT_EQ(GetJson("extra"), R"({"from-a":1,"from-b":2,"from-c":3})");
}

TEST_F(ConfigTest, HomeConfigDirectoryThenConfigVariable) {
  Write(home_ / ".config" / "tegu" / "tegu.yaml", "scheduler: sync\nnum-workers: 2\n");
  Refresh();
  EXPECT_EQ(GetString("scheduler", ""), "sync");
  EXPECT_EQ(GetInt("num-workers", 0), 2);

  setenv("TEGU_CONFIG", Write(dir_ / "override.yaml", "scheduler: threads\n").c_str(), 1);
  Refresh();
  EXPECT_EQ(GetString("scheduler", ""), "threads");
  EXPECT_EQ(GetInt("num-workers", 0), 2);
}

TEST_F(ConfigTest, MalformedYamlIsSkippedWithAWarning) {
  fs::path dir = dir_ / "conf.d";
  Write(dir / "a-bad.yaml", "scheduler: sync\nnum-workers: 2\nkey: : broken\n");
  Write(dir / "b-good.yaml", "visualization:\n  engine: cytoscape\n");
  Write(dir / "c-list.yaml", "- not\n- a mapping\n");
  Write(dir / "d-empty.yaml", "");
  setenv("TEGU_CONFIG", dir.c_str(), 1);
  Refresh();

  std::vector<std::string> warnings = LoadWarnings();
  ASSERT_EQ(warnings.size(), 2u);
  EXPECT_NE(warnings[0].find("a-bad.yaml:3:"), std::string::npos) << warnings[0];
  EXPECT_NE(warnings[1].find("c-list.yaml"), std::string::npos) << warnings[1];
  // Nothing from the broken file, everything from the good one.
  EXPECT_EQ(GetJson("scheduler"), "null");
  EXPECT_EQ(GetJson("num-workers"), "null");
  EXPECT_EQ(GetString("visualization.engine", ""), "cytoscape");

  // The warnings describe the latest load only.
  unsetenv("TEGU_CONFIG");
  Refresh();
  EXPECT_TRUE(LoadWarnings().empty());
}

TEST_F(ConfigTest, RefreshDropsProgrammaticChanges) {
  ASSERT_TRUE(SetJson("scheduler", R"("threads")").ok());
  ASSERT_TRUE(SetJson("new.key", "1").ok());
  Delete("visualization.engine");
  Refresh();
  EXPECT_EQ(GetJson("scheduler"), "null");
  EXPECT_EQ(GetJson("new"), std::nullopt);
  EXPECT_EQ(GetString("visualization.engine", ""), "graphviz");
}

TEST_F(ConfigTest, Delete) {
  Delete("optimization.fuse");
  EXPECT_EQ(GetJson("optimization.fuse"), std::nullopt);
  EXPECT_EQ(GetJson("optimization"), R"({"inline":{"active":true}})");
  Delete("num_workers");
  EXPECT_EQ(GetJson("num-workers"), std::nullopt);
  // Missing keys, keys below a scalar and malformed keys are no-ops.
  Delete("no.such.key");
  Delete("visualization.engine.deeper");
  Delete("a..b");
  EXPECT_EQ(GetString("visualization.engine", ""), "graphviz");
}

TEST_F(ConfigTest, UpdateDefaults) {
  // The defaults are process-wide and survive Refresh(), so this test uses keys of its own.
  ASSERT_TRUE(UpdateDefaults(R"({"test_module": {"a": 1, "b": 2}})").ok());
  EXPECT_EQ(GetJson("test-module"), R"({"a":1,"b":2})");

  // A value that is still the old default takes the new one; one a program chose stays.
  ASSERT_TRUE(SetJson("test-module.b", "5").ok());
  ASSERT_TRUE(UpdateDefaults(R"({"test-module": {"a": 10, "b": 20, "c": 30}})").ok());
  EXPECT_EQ(GetJson("test-module"), R"({"a":10,"b":5,"c":30})");

  // Refresh keeps the defaults and drops the programmatic value.
  Refresh();
  EXPECT_EQ(GetJson("test-module"), R"({"a":10,"b":20,"c":30})");

  // Files and the environment win over defaults registered later.
  setenv("TEGU_TEST_MODULE_ENV__A", "7", 1);
  Refresh();
  ASSERT_TRUE(UpdateDefaults(R"({"test-module-env": {"a": 1, "b": 1}})").ok());
  EXPECT_EQ(GetJson("test-module-env"), R"({"a":7,"b":1})");

  EXPECT_EQ(UpdateDefaults("[1, 2]").code(), StatusCode::kInvalid);
  EXPECT_EQ(UpdateDefaults("{oops").code(), StatusCode::kInvalid);
}

TEST_F(ConfigTest, ConcurrentAccess) {
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([t] {
      for (int i = 0; i < 200; ++i) {
        std::string key = "concurrent.t" + std::to_string(t);
        ASSERT_TRUE(SetJson(key, std::to_string(i)).ok());
        EXPECT_EQ(GetInt(key, -1), i);
        EXPECT_TRUE(GetBool("optimization.fuse.active", false));
        (void)ToJson();
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(GetInt("concurrent.t3", -1), 199);
}

}  // namespace
}  // namespace tegu::config
