/* SPDX-License-Identifier: MIT */
/*
 * apical_nest.h -- apical's cell and rule modules as NEST models.
 *
 * Every cell model the apical registry finds becomes a NEST node model
 * apical_<cell> (apical_node below): its parameters, state and external
 * port inputs are status entries, its ports are receptor types, its state
 * and observables are recordables, and every step calls the module's
 * observe and rhs through the ABI (models/apical.h) with a population of one
 * cell.  Every rule becomes a connection model apical_<rule>_synapse
 * (apical_connection below) whose common properties are the rule's
 * parameters; apical_synapse carries a value without plasticity.
 *
 * Transmission: a node sends, at the end of each step, its rate observable
 * (the cell's APICAL_ROLE_RATE) in a DelayedRateConnectionEvent; a
 * connection with another "observable" reads it from its (local) source.
 * The receiving node adds weight x value to the port's ring buffer, so a
 * value sent in step t reaches the port in step t + delay (at least one
 * step).  Plastic connections step their rule once per delivery from the
 * postsynaptic observable of the step before and the value they delivered
 * before, which is the forward-Euler step of apical's `delay: 1`
 * projections when the delay is one step (docs/nest.md).
 */
#ifndef APICAL_NEST_H
#define APICAL_NEST_H

#include <string>
#include <vector>

#include "apical.h"

#include "connection.h"
#include "event.h"
#include "nest_types.h"
#include "node.h"
#include "recordables_map.h"
#include "ring_buffer.h"
#include "universal_data_logger.h"

namespace apical_nest
{

/* how many cell models and rules one process can register */
constexpr int MAX_CELLS = 16;
constexpr int MAX_RULES = 16;
constexpr size_t MAX_AUX = 2;

struct CellSlot
{
  const apical_cell_model* m = nullptr;
  std::string name;         // the NEST model name, apical_<cell>
  std::vector< double > p0; // parameter defaults
  size_t rate_obs = 0;      // the observable a node sends (APICAL_ROLE_RATE)
};

struct RuleSlot
{
  const apical_rule* r = nullptr; // NULL: the static apical_synapse
  std::string name;
  std::vector< double > p0;
};

extern CellSlot cell_slots[ MAX_CELLS ];
extern RuleSlot rule_slots[ MAX_RULES + 1 ]; // the last: apical_synapse

/* the index of observable `name` of m, or n_obs */
size_t find_obs( const apical_cell_model* m, const std::string& name );
/* the index of the port or observable playing `role`, by the roles table or
   the paper's names; or SIZE_MAX */
size_t find_role( const apical_cell_model* m, uint32_t role );

class apical_node : public nest::Node
{
public:
  explicit apical_node( const CellSlot* slot );
  apical_node( const apical_node& );

  using nest::Node::handle;
  using nest::Node::handles_test_event;
  using nest::Node::sends_secondary_event;

  void handle( nest::DelayedRateConnectionEvent& ) override;
  void handle( nest::DataLoggingRequest& ) override;
  size_t handles_test_event( nest::DelayedRateConnectionEvent&, size_t ) override;
  size_t handles_test_event( nest::DataLoggingRequest&, size_t ) override;
  void
  sends_secondary_event( nest::DelayedRateConnectionEvent& ) override
  {
  }

  void get_status( DictionaryDatum& ) const override;
  void set_status( const DictionaryDatum& ) override;

  /* called by apical connections at delivery: weight x v[i] into port q,
     i steps after the first step the delay reaches */
  void add_input( size_t q, long delay_steps, double weight, const double* v, size_t n );
  /* observable k of lag `lag` of the last update */
  double
  sent( size_t lag, size_t k ) const
  {
    return hist_[ lag * slot_->m->n_obs + k ];
  }
  size_t
  last_lag() const
  {
    return last_lag_;
  }
  const CellSlot*
  slot() const
  {
    return slot_;
  }

  double get_state_element( size_t elem ) const;

private:
  void init_buffers_() override;
  void pre_run_hook() override;
  void update( const nest::Time&, const long, const long ) override;
  void make_recordables_();
  void call_failed_( const char* what, int rc ) const;

  friend class nest::DataAccessFunctor< apical_node >;

  const CellSlot* slot_;
  std::vector< double > p_;    // parameters, in the module's order
  std::vector< double > y_;    // state
  std::vector< double > ext_;  // external constant input per port
  std::vector< double > in_;   // port inputs of the current step
  std::vector< double > obs_;  // observables of the current step
  std::vector< double > robs_; // observables as recorded (state stage at the new state)
  std::vector< double > dydt_;
  std::vector< double > hist_; // observables of each lag of the last update
  std::vector< double > sent_; // the rate sent, per lag
  size_t last_lag_ = 0;
  double h_ = 0.1;
  std::vector< nest::RingBuffer > ring_; // delayed inputs, one per port
  nest::DynamicRecordablesMap< apical_node > recordables_;
  nest::DynamicUniversalDataLogger< apical_node > logger_;
};

template < int K >
class apical_cell : public apical_node
{
public:
  apical_cell()
    : apical_node( &cell_slots[ K ] )
  {
  }
  apical_cell( const apical_cell& o )
    : apical_node( o )
  {
  }
};

void register_models();

} // namespace apical_nest

#endif
