/* A shared object without the apical entry symbol. */
int not_an_apical_module(void);
int not_an_apical_module(void) { return 42; }
