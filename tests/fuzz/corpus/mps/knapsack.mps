* A 0/1 knapsack: maximise 5x + 6y + 3z subject to 3x + 4y + 2z <= 6.
* Optimum 9 (y = z = 1). Used by the opplan solve command-line tests.
NAME knapsack
OBJSENSE
    MAX
ROWS
 N value
 L cap
COLUMNS
 M0000001 'MARKER' 'INTORG'
 x value 5 cap 3
 y value 6 cap 4
 z value 3 cap 2
 M0000002 'MARKER' 'INTEND'
RHS
 RHS1 cap 6
BOUNDS
 UP BND1 x 1
 UP BND1 y 1
 UP BND1 z 1
ENDATA
