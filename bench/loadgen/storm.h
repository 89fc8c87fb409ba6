/* storm.h — the storm mode of luahub-loadgen (storm.c): 1,000 clients of the room
 * protocol reconnecting at once and recovering what they missed. */
#ifndef STORM_H
#define STORM_H

/* argv[0] is "storm"; returns the process's exit status. */
int storm_main(int argc, char **argv);

#endif
