// diffuse/ode/butcher.hpp: Butcher tableaus of explicit Runge-Kutta methods, as constexpr data.
//
// A method with s stages advances y' = f(t, y) from (t, y) by h as
//   k_i = f(t + c_i h, y + h sum_{j<i} a_ij k_j),   y_1 = y + h sum_i b_i k_i
// (Hairer, Norsett & Wanner, "Solving Ordinary Differential Equations I", II.1, eq. 1.8). A tableau
// is a type whose static members give c, a (strictly lower triangular), b and the order; an
// embedded pair adds the error weights e = b - b^ of its lower-order solution b^ (the local error
// estimate is h sum_i e_i k_i, of order error_order + 1) and a continuous extension adds `dense`,
// the weights b_i(theta) = sum_p dense[i][p] theta^(p+1) of y(t + theta h) = y + h sum_i b_i(theta) k_i.
// A pair is "first same as last" (FSAL) when its last stage is evaluated at y_1 itself
// (c_s = 1, a_s = b, b_s = 0): an accepted step's last derivative is the next step's first.
// The coefficients are doubles (exact fractions where the method has them); steppers round them to
// the state's scalar type once.
#pragma once

#include <array>
#include <concepts>
#include <cstddef>
#include <string_view>

namespace diffuse::ode {

template <class Tab>
concept butcher_tableau = requires {
    { Tab::name } -> std::convertible_to<std::string_view>;
    { Tab::stages } -> std::convertible_to<int>;
    { Tab::order } -> std::convertible_to<int>;
    requires Tab::c.size() == static_cast<std::size_t>(Tab::stages);
    requires Tab::b.size() == static_cast<std::size_t>(Tab::stages);
    requires Tab::a.size() == static_cast<std::size_t>(Tab::stages);
};

// A pair with an error estimate: what adaptive step-size control needs.
template <class Tab>
concept embedded_tableau = butcher_tableau<Tab> && requires {
    { Tab::error_order } -> std::convertible_to<int>;
    requires Tab::e.size() == static_cast<std::size_t>(Tab::stages);
};

// A pair with a continuous extension: what output at arbitrary times (dense output) needs.
template <class Tab>
concept dense_tableau = embedded_tableau<Tab> && requires {
    requires Tab::dense.size() == static_cast<std::size_t>(Tab::stages);
    { Tab::dense_order } -> std::convertible_to<int>;
};

// True when the last stage is evaluated at y_1 (FSAL; see the header comment).
template <butcher_tableau Tab>
constexpr bool first_same_as_last() {
    constexpr int s = Tab::stages;
    if (s < 2 || Tab::c[s - 1] != 1.0 || Tab::b[s - 1] != 0.0) return false;
    for (int j = 0; j < s; ++j) {
        if (Tab::a[s - 1][j] != Tab::b[j]) return false;
    }
    return true;
}

template <int S>
using coefficients = std::array<double, S>;
template <int S>
using matrix = std::array<std::array<double, S>, S>;

// ---- fixed-step methods ------------------------------------------------------------------------------

// Forward Euler: y_1 = y + h f(t, y). Order 1.
struct euler {
    static constexpr std::string_view name = "Euler";
    static constexpr int stages = 1, order = 1;
    static constexpr coefficients<1> c{0};
    static constexpr matrix<1> a{{{0}}};
    static constexpr coefficients<1> b{1};
};

// Explicit midpoint rule. Order 2.
struct midpoint {
    static constexpr std::string_view name = "midpoint";
    static constexpr int stages = 2, order = 2;
    static constexpr coefficients<2> c{0, 0.5};
    static constexpr matrix<2> a{{{0, 0}, {0.5, 0}}};
    static constexpr coefficients<2> b{0, 1};
};

// Heun's method (explicit trapezoidal rule). Order 2.
struct heun {
    static constexpr std::string_view name = "Heun";
    static constexpr int stages = 2, order = 2;
    static constexpr coefficients<2> c{0, 1};
    static constexpr matrix<2> a{{{0, 0}, {1, 0}}};
    static constexpr coefficients<2> b{0.5, 0.5};
};

// Ralston's second-order method (c_2 = 2/3: the smallest error bound among two-stage methods).
struct ralston {
    static constexpr std::string_view name = "Ralston";
    static constexpr int stages = 2, order = 2;
    static constexpr coefficients<2> c{0, 2.0 / 3.0};
    static constexpr matrix<2> a{{{0, 0}, {2.0 / 3.0, 0}}};
    static constexpr coefficients<2> b{0.25, 0.75};
};

// The classical Runge-Kutta method (Kutta 1901). Order 4.
struct rk4 {
    static constexpr std::string_view name = "RK4";
    static constexpr int stages = 4, order = 4;
    static constexpr coefficients<4> c{0, 0.5, 0.5, 1};
    static constexpr matrix<4> a{{{0, 0, 0, 0}, {0.5, 0, 0, 0}, {0, 0.5, 0, 0}, {0, 0, 1, 0}}};
    static constexpr coefficients<4> b{1.0 / 6.0, 1.0 / 3.0, 1.0 / 3.0, 1.0 / 6.0};
};

// Kutta's 3/8 rule. Order 4.
struct rk4_three_eighths {
    static constexpr std::string_view name = "RK4 (3/8 rule)";
    static constexpr int stages = 4, order = 4;
    static constexpr coefficients<4> c{0, 1.0 / 3.0, 2.0 / 3.0, 1};
    static constexpr matrix<4> a{{{0, 0, 0, 0}, {1.0 / 3.0, 0, 0, 0}, {-1.0 / 3.0, 1, 0, 0}, {1, -1, 1, 0}}};
    static constexpr coefficients<4> b{0.125, 0.375, 0.375, 0.125};
};

// ---- embedded pairs ------------------------------------------------------------------------------------

// Bogacki & Shampine 1989, "A 3(2) pair of Runge-Kutta formulas" (scipy's RK23, MATLAB's ode23):
// order 3 with an order-2 estimate, FSAL. The continuous extension is scipy's RK23 P matrix (the
// cubic Hermite interpolant of y, y_1 and their derivatives).
struct bogacki_shampine32 {
    static constexpr std::string_view name = "Bogacki-Shampine 3(2)";
    static constexpr int stages = 4, order = 3, error_order = 2, dense_order = 3;
    static constexpr coefficients<4> c{0, 0.5, 0.75, 1};
    static constexpr matrix<4> a{{{0, 0, 0, 0}, {0.5, 0, 0, 0}, {0, 0.75, 0, 0}, {2.0 / 9.0, 1.0 / 3.0, 4.0 / 9.0, 0}}};
    static constexpr coefficients<4> b{2.0 / 9.0, 1.0 / 3.0, 4.0 / 9.0, 0};
    // b - b^, b^ = (7/24, 1/4, 1/3, 1/8)
    static constexpr coefficients<4> e{-5.0 / 72.0, 1.0 / 12.0, 1.0 / 9.0, -1.0 / 8.0};
    static constexpr std::array<std::array<double, 3>, 4> dense{
        {{1, -4.0 / 3.0, 5.0 / 9.0}, {0, 1, -2.0 / 3.0}, {0, 4.0 / 3.0, -8.0 / 9.0}, {0, -1, 1}}};
};

// Dormand & Prince 1980, "A family of embedded Runge-Kutta formulae" (DOPRI5; scipy's RK45,
// Boost.Odeint's runge_kutta_dopri5, MATLAB's ode45): order 5 with an order-4 estimate, FSAL.
// The continuous extension of order 4 is Shampine's (1986), as scipy's RK45 P matrix and Hairer's
// dopri5 dense output write it.
struct dormand_prince54 {
    static constexpr std::string_view name = "Dormand-Prince 5(4)";
    static constexpr int stages = 7, order = 5, error_order = 4, dense_order = 4;
    static constexpr coefficients<7> c{0, 0.2, 0.3, 0.8, 8.0 / 9.0, 1, 1};
    static constexpr matrix<7> a{{
        {0, 0, 0, 0, 0, 0, 0},
        {0.2, 0, 0, 0, 0, 0, 0},
        {3.0 / 40.0, 9.0 / 40.0, 0, 0, 0, 0, 0},
        {44.0 / 45.0, -56.0 / 15.0, 32.0 / 9.0, 0, 0, 0, 0},
        {19372.0 / 6561.0, -25360.0 / 2187.0, 64448.0 / 6561.0, -212.0 / 729.0, 0, 0, 0},
        {9017.0 / 3168.0, -355.0 / 33.0, 46732.0 / 5247.0, 49.0 / 176.0, -5103.0 / 18656.0, 0, 0},
        {35.0 / 384.0, 0, 500.0 / 1113.0, 125.0 / 192.0, -2187.0 / 6784.0, 11.0 / 84.0, 0},
    }};
    static constexpr coefficients<7> b{35.0 / 384.0, 0, 500.0 / 1113.0, 125.0 / 192.0, -2187.0 / 6784.0,
                                       11.0 / 84.0,  0};
    // b - b^, b^ = (5179/57600, 0, 7571/16695, 393/640, -92097/339200, 187/2100, 1/40)
    static constexpr coefficients<7> e{71.0 / 57600.0, 0,          -71.0 / 16695.0, 71.0 / 1920.0, -17253.0 / 339200.0,
                                       22.0 / 525.0,   -1.0 / 40.0};
    static constexpr std::array<std::array<double, 4>, 7> dense{{
        {1, -8048581381.0 / 2820520608.0, 8663915743.0 / 2820520608.0, -12715105075.0 / 11282082432.0},
        {0, 0, 0, 0},
        {0, 131558114200.0 / 32700410799.0, -68118460800.0 / 10900136933.0, 87487479700.0 / 32700410799.0},
        {0, -1754552775.0 / 470086768.0, 14199869525.0 / 1410260304.0, -10690763975.0 / 1880347072.0},
        {0, 127303824393.0 / 49829197408.0, -318862633887.0 / 49829197408.0, 701980252875.0 / 199316789632.0},
        {0, -282668133.0 / 205662961.0, 2019193451.0 / 616988883.0, -1453857185.0 / 822651844.0},
        {0, 40617522.0 / 29380423.0, -110615467.0 / 29380423.0, 69997945.0 / 29380423.0},
    }};
};

// Tsitouras 2011, "Runge-Kutta pairs of order 5(4) satisfying only the first column simplifying
// assumption" (Tsit5 of DifferentialEquations.jl and diffrax): order 5 with an order-4 estimate,
// FSAL; smaller error constants than Dormand-Prince. The coefficients are the paper's 16-digit
// decimals (as in OrdinaryDiffEq's Tsit5 tables); no continuous extension here.
struct tsitouras54 {
    static constexpr std::string_view name = "Tsitouras 5(4)";
    static constexpr int stages = 7, order = 5, error_order = 4;
    static constexpr coefficients<7> c{0, 0.161, 0.327, 0.9, 0.9800255409045097, 1, 1};
    static constexpr matrix<7> a{{
        {0, 0, 0, 0, 0, 0, 0},
        {0.161, 0, 0, 0, 0, 0, 0},
        {-0.008480655492356989, 0.335480655492357, 0, 0, 0, 0, 0},
        {2.8971530571054935, -6.359448489975075, 4.3622954328695815, 0, 0, 0, 0},
        {5.325864828439257, -11.748883564062828, 7.4955393428898365, -0.09249506636175525, 0, 0, 0},
        {5.86145544294642, -12.92096931784711, 8.159367898576159, -0.071584973281401, -0.028269050394068383, 0, 0},
        {0.09646076681806523, 0.01, 0.4798896504144996, 1.379008574103742, -3.290069515436081, 2.324710524099774, 0},
    }};
    static constexpr coefficients<7> b{
        0.09646076681806523, 0.01, 0.4798896504144996, 1.379008574103742, -3.290069515436081, 2.324710524099774, 0};
    // b - b^
    static constexpr coefficients<7> e{0.00178001105222577714,
                                       0.0008164344596567469,
                                       -0.007880878010261995,
                                       0.1447110071732629,
                                       -0.5823571654525552,
                                       0.45808210592918697,
                                       -1.0 / 66.0};
};

// The lower-order solution of an embedded pair as a method of its own (weights b^ = b - e), e.g.
// to measure the order of the error estimate.
template <embedded_tableau Pair>
struct embedded_solution {
    static constexpr std::string_view name = Pair::name;
    static constexpr int stages = Pair::stages, order = Pair::error_order;
    static constexpr auto c = Pair::c;
    static constexpr auto a = Pair::a;
    static constexpr coefficients<Pair::stages> b = [] {
        coefficients<Pair::stages> out{};
        for (int i = 0; i < Pair::stages; ++i) out[i] = Pair::b[i] - Pair::e[i];
        return out;
    }();
};

}  // namespace diffuse::ode
