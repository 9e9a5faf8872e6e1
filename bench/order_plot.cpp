// Observed convergence orders of the ODE tableaus and the SDE schemes on the problems with exact
// solutions that tests/test_ode.cpp and tests/test_sde.cpp assert the orders on
// (tests/order_problems.hpp). Writes a CSV that tools/plot_orders.py turns into docs/orders.png:
//
//   build/bench/order_plot orders.csv
//   /usr/bin/python3 tools/plot_orders.py orders.csv docs/orders.png
//
// Columns: panel (ode: the global error at t = 2 of y' = y - t^2 + 1, double; gbm / ou: the strong
// error, the mean over paths of |X_N - X(1)| on one Brownian tree), method, order (the theory's),
// h (the step size), error.
#include <cmath>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "diffuse/core/error.hpp"
#include "diffuse/ode/butcher.hpp"
#include "diffuse/ode/sde_euler_maruyama.hpp"
#include "diffuse/ode/sde_heun.hpp"
#include "diffuse/ode/sde_milstein.hpp"
#include "diffuse/ode/sde_reversible_heun.hpp"
#include "diffuse/ode/sde_sra1.hpp"
#include "order_problems.hpp"

namespace {

namespace ode = diffuse::ode;
namespace op = order_problems;

struct row {
    std::string panel, method;
    double order, h, error;
};

template <class Tableau>
void ode_rows(std::vector<row>& rows, const std::vector<int>& steps) {
    for (const int n : steps) {
        const double y = op::fixed_step_solution<double, Tableau>(n);
        rows.push_back({"ode", std::string(Tableau::name), double(Tableau::order), 2.0 / n,
                        std::abs(y - op::forced_growth::solution(2.0))});
    }
}

template <template <class> class Stepper, class Problem>
void sde_rows(std::vector<row>& rows, const char* panel, const char* method, double order, Problem problem,
              const std::vector<op::recorded_path>& paths, const diffuse::buffer<double>& exact) {
    const auto errors = op::strong_errors<Stepper>(problem, paths, exact);
    for (std::size_t i = 0; i < paths.size(); ++i)
        rows.push_back({panel, method, order, 1.0 / paths[i].steps, errors[i]});
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: order_plot OUT.csv\n");
        return 2;
    }
    std::vector<row> rows;
    const std::vector<int> ode_steps{2, 4, 8, 16, 32, 64, 128, 256};
    ode_rows<ode::euler>(rows, ode_steps);
    ode_rows<ode::midpoint>(rows, ode_steps);
    ode_rows<ode::heun>(rows, ode_steps);
    ode_rows<ode::ralston>(rows, ode_steps);
    ode_rows<ode::rk4>(rows, ode_steps);
    ode_rows<ode::rk4_three_eighths>(rows, ode_steps);
    ode_rows<ode::bogacki_shampine32>(rows, ode_steps);
    ode_rows<ode::dormand_prince54>(rows, ode_steps);
    ode_rows<ode::tsitouras54>(rows, ode_steps);

    constexpr diffuse::index paths = 4000;
    {  // GBM dX = 2X dt + X dW: multiplicative noise
        const op::gbm<double> model;
        diffuse::random::brownian_tree<double> tree(2024, 0.0, 1.0, paths, 1.0 / 1024);
        diffuse::buffer<double> w_end(paths);
        tree.value(1.0, diffuse::flat(w_end));
        const auto ito = model.exact(w_end, 1.0, ode::sde_calculus::ito);
        const auto stratonovich = model.exact(w_end, 1.0, ode::sde_calculus::stratonovich);
        const auto recorded = op::record(tree, {16, 32, 64, 128, 256, 512, 1024}, false);
        sde_rows<ode::euler_maruyama>(rows, "gbm", "Euler-Maruyama", 0.5, model.problem(), recorded, ito);
        sde_rows<ode::milstein>(rows, "gbm", "Milstein", 1.0, model.problem(), recorded, ito);
        sde_rows<ode::stochastic_heun>(rows, "gbm", "stochastic Heun", 1.0, model.problem(), recorded, stratonovich);
        sde_rows<ode::reversible_heun>(rows, "gbm", "reversible Heun", 0.5, model.problem(), recorded, stratonovich);
    }
    {  // OU dX = -X dt + 0.8 (1 + t) dW: additive noise
        const op::ornstein_uhlenbeck<double> model;
        constexpr int fine = 1024;
        diffuse::random::brownian_tree<double> tree(77, 0.0, 1.0, paths, 1.0 / fine,
                                                    diffuse::random::levy_area::space_time);
        const auto exact = model.exact(tree, 1.0, fine);
        const auto recorded = op::record(tree, {4, 8, 16, 32, 64}, true);
        sde_rows<ode::euler_maruyama>(rows, "ou", "Euler-Maruyama", 1.0, model.problem(), recorded, exact);
        sde_rows<ode::stochastic_heun>(rows, "ou", "stochastic Heun", 1.0, model.problem(), recorded, exact);
        sde_rows<ode::reversible_heun>(rows, "ou", "reversible Heun", 1.0, model.problem(), recorded, exact);
        sde_rows<ode::sra1>(rows, "ou", "SRA1", 1.5, model.problem(), recorded, exact);
    }

    std::FILE* out = std::fopen(argv[1], "w");
    if (out == nullptr) {
        std::fprintf(stderr, "order_plot: cannot write %s\n", argv[1]);
        return 2;
    }
    std::fprintf(out, "panel,method,order,h,error\n");
    for (const auto& r : rows)
        std::fprintf(out, "%s,%s,%g,%.17g,%.17g\n", r.panel.c_str(), r.method.c_str(), r.order, r.h, r.error);
    std::fclose(out);
    std::printf("wrote %zu rows to %s\n", rows.size(), argv[1]);
    return 0;
}
