// The test harness itself: the guard in catch_main.cpp that stops a test or section name Catch2
// 2.13's console reporter cannot print (it loops forever wrapping it, tests/header_wrap.hpp).
#include <catch2/catch.hpp>

#include "header_wrap.hpp"

using catch_harness::header_would_hang;

TEST_CASE("names Catch2's console reporter cannot wrap are recognised", "[harness]") {
    // The UniPC section name that hung CI (": " at column 77 of a section header, indent 2).
    const std::string hung = "test_full_loop_no_noise (T = 1000 linear, order 2, bh2, sigma_min, 10 steps): M=0.2464";
    CHECK(header_would_hang(hung, 2, 80));
    CHECK_FALSE(header_would_hang(
        "test_full_loop_no_noise, M=0.2464 (T = 1000 linear, order 2, bh2, sigma_min, 10 steps)", 2, 80));
    // A name that fits on one line is never wrapped, wherever its ": " is.
    CHECK_FALSE(header_would_hang(std::string(73, 'a') + ": b", 2, 80));  // 78 columns with the indent
    // The boundary: a wrapped name keeps at least 2 columns per continuation line (79 - 77 = 2).
    const std::string tail(40, 'x');
    CHECK_FALSE(header_would_hang(std::string(73, 'a') + ": " + tail, 2, 80));  // continuation indent 77
    CHECK(header_would_hang(std::string(74, 'a') + ": " + tail, 2, 80));        // 78: 1 column left
    CHECK(header_would_hang(std::string(75, 'a') + ": " + tail, 2, 80));        // 79: none
    CHECK(header_would_hang(std::string(76, 'a') + ": " + tail, 0, 80));        // a test case name at 78
    CHECK_FALSE(header_would_hang(std::string(75, 'a') + ": " + tail, 0, 80));
    // Without ": " continuation lines start at the header's own indent.
    CHECK_FALSE(header_would_hang(std::string(200, 'a'), 2, 80));
}
