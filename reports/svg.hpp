// Small SVG charts drawn by the tool itself (no scripts, no network): line charts over rank
// counts and horizontal (stacked) bar charts. Output is well-formed XML, so a report can be
// checked with any XML parser. Each chart is one <svg data-chart="..."> and each series one
// <g class="series" data-series="...">.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace llmt::svg {

std::string escape(const std::string& text);

struct Series {
  std::string name;
  std::vector<std::pair<double, double>> points;  // (x, y), drawn in x order
  bool dashed = false;
};

struct LineChart {
  std::string id, title, x_label, y_label;
  std::vector<Series> series;
  bool log2_x = true;  // rank counts: 1, 2, 4, 8 evenly spaced
  // Many points (a CDF): the x axis from 0 with evenly spaced ticks instead of one tick per
  // point, and no marker per point.
  bool dense = false;
};
std::string render(const LineChart& chart);

// One bar per row; a bar is the sum of its segments, one per series.
struct BarChart {
  std::string id, title, unit;
  std::vector<std::string> series;             // segment names (legend), in stacking order
  std::vector<std::string> rows;               // bar labels
  std::vector<std::vector<double>> values;     // [row][series]
  std::vector<std::string> row_classes;        // optional CSS class per bar (e.g. a verdict)
};
std::string render(const BarChart& chart);

// One lane per row from 0 to `end`: the row's spans drawn over an idle background, e.g. when a
// replica had requests in flight.
struct Timeline {
  std::string id, title, unit, busy = "busy", idle = "idle";  // legend names of spans and background
  std::vector<std::string> rows;
  std::vector<std::vector<std::pair<double, double>>> spans;  // [row]: (begin, end), in `unit`
  double end = 0;
};
std::string render(const Timeline& chart);

}  // namespace llmt::svg
