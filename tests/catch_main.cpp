#define CATCH_CONFIG_MAIN
#define CATCH_CONFIG_EXTERNAL_INTERFACES
#include <catch2/catch.hpp>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "header_wrap.hpp"

namespace {

// Catch2 2.13's console reporter prints a test case name (indent 0) or a section name (indent 2)
// on a failure or under -s; a name its wrapping cannot print loops forever there, writing without
// end and ignoring SIGTERM. Every name is checked when it starts, so such a name fails the run at
// once, readably, whether or not anything fails (header_wrap.hpp has the condition).
class unprintable_name_guard : public Catch::TestEventListenerBase {
public:
    using TestEventListenerBase::TestEventListenerBase;

    void testCaseStarting(const Catch::TestCaseInfo& info) override { require_printable(info.name, 0); }
    void sectionStarting(const Catch::SectionInfo& info) override {
        // The first section is the test case itself, printed at indent 0 and checked above.
        if (++depth_ > 1) require_printable(info.name, 2);
    }
    void sectionEnded(const Catch::SectionStats&) override { --depth_; }

private:
    static void require_printable(const std::string& name, std::size_t indent) {
        if (!catch_harness::header_would_hang(name, indent, CATCH_CONFIG_CONSOLE_WIDTH)) return;
        std::fprintf(stderr,
                     "test or section name \"%s\" cannot be printed by Catch2's console reporter (its first "
                     "\": \" sets a continuation indent that leaves no room to wrap): rename it\n",
                     name.c_str());
        std::fflush(stderr);
        std::_Exit(3);  // before the reporter ever prints it
    }
    int depth_ = 0;
};

// With DIFFUSE_REPORT_ERRORS set, Catch prints floating-point values at full precision (9 and 17
// digits instead of 5 and 10), so `-s` shows what every Approx check measured: the values the
// tolerance comments quote (docs/testing.md, Tolerances).
class full_precision_when_reporting : public Catch::TestEventListenerBase {
public:
    using TestEventListenerBase::TestEventListenerBase;

    void testRunStarting(const Catch::TestRunInfo&) override {
        if (std::getenv("DIFFUSE_REPORT_ERRORS") == nullptr) return;
        Catch::StringMaker<float>::precision = 9;
        Catch::StringMaker<double>::precision = 17;
    }
};

}  // namespace

CATCH_REGISTER_LISTENER(unprintable_name_guard)
CATCH_REGISTER_LISTENER(full_precision_when_reporting)
