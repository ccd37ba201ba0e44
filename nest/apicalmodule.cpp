/* SPDX-License-Identifier: MIT */
/*
 * apicalmodule.cpp -- the NEST extension module apicalmodule: finds apical's
 * modules on apical's search path ($APICAL_MODULE_PATH, then apical's
 * installed module directory) through libapical's registry and registers
 * a node model per cell model and a connection model per rule
 * (apical_nest.h).
 */
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>

#include "apical_connection.h"
#include "apical_nest.h"
#include "apical_registry.h"

#include "doubledatum.h"
#include "integerdatum.h"
#include "nest_extension_interface.h"
#include "universal_data_logger_impl.h"

namespace apical_nest
{

CellSlot cell_slots[ MAX_CELLS ];
RuleSlot rule_slots[ MAX_RULES + 1 ];

size_t
find_obs( const apical_cell_model* m, const std::string& name )
{
  for ( size_t k = 0; k < m->n_obs; k++ )
  {
    if ( name == m->obs[ k ].name )
    {
      return k;
    }
  }
  return m->n_obs;
}

/* the names of the paper's cells, for modules without a roles table */
static const char*
paper_name( uint32_t role )
{
  switch ( role )
  {
  case APICAL_ROLE_BASAL:
    return "basal";
  case APICAL_ROLE_APICAL_TOPDOWN:
    return "apical";
  case APICAL_ROLE_APICAL_LATERAL:
    return "apical_inh";
  case APICAL_ROLE_DENDRITE:
    return "dendrite";
  case APICAL_ROLE_NUDGE:
    return "nudge";
  case APICAL_ROLE_TEACH:
    return "target";
  case APICAL_ROLE_TEACH_GATE:
    return "target_gate";
  case APICAL_ROLE_DRIVE:
    return "drive";
  case APICAL_ROLE_POTENTIAL:
    return "u";
  case APICAL_ROLE_RATE:
    return "rate";
  case APICAL_ROLE_APICAL_POTENTIAL:
    return "v_apical";
  case APICAL_ROLE_BASAL_ERROR:
    return "err_basal";
  case APICAL_ROLE_BASAL_PREDICTION:
    return "rate_basal_pred";
  default:
    return "";
  }
}

size_t
find_role( const apical_cell_model* m, uint32_t role )
{
  std::string name = paper_name( role );
  if ( APICAL_CELL_HAS_ROLES( m ) )
  {
    name.clear();
    for ( size_t i = 0; i < m->n_roles; i++ )
    {
      if ( m->roles[ i ].role == role && m->roles[ i ].name )
      {
        name = m->roles[ i ].name;
      }
    }
  }
  if ( name.empty() )
  {
    return SIZE_MAX;
  }
  if ( role <= APICAL_ROLE_DRIVE )
  {
    for ( size_t q = 0; q < m->n_ports; q++ )
    {
      if ( name == m->ports[ q ].name )
      {
        return q;
      }
    }
    return SIZE_MAX;
  }
  size_t k = find_obs( m, name );
  return k == m->n_obs ? SIZE_MAX : k;
}

/* ---- the node ---- */

apical_node::apical_node( const CellSlot* slot )
  : nest::Node()
  , slot_( slot )
  , p_( slot->p0 )
  , y_( slot->m->n_state, 0.0 )
  , ext_( slot->m->n_ports, 0.0 )
  , in_( slot->m->n_ports, 0.0 )
  , obs_( slot->m->n_obs, 0.0 )
  , robs_( slot->m->n_obs, 0.0 )
  , dydt_( slot->m->n_state, 0.0 )
  , ring_( slot->m->n_ports )
  , logger_( *this )
{
  make_recordables_();
}

apical_node::apical_node( const apical_node& o )
  : nest::Node( o )
  , slot_( o.slot_ )
  , p_( o.p_ )
  , y_( o.y_ )
  , ext_( o.ext_ )
  , in_( o.in_ )
  , obs_( o.obs_ )
  , robs_( o.robs_ )
  , dydt_( o.dydt_ )
  , ring_( o.slot_->m->n_ports )
  , logger_( *this )
{
  make_recordables_();
}

/* recordables: the state variables, then the observables not named like a
   state variable, then the port inputs as in_<port> */
void
apical_node::make_recordables_()
{
  const apical_cell_model* m = slot_->m;
  for ( size_t k = 0; k < m->n_state; k++ )
  {
    recordables_.insert( Name( m->state[ k ].name ), nest::DataAccessFunctor< apical_node >( *this, k ) );
  }
  for ( size_t k = 0; k < m->n_obs; k++ )
  {
    if ( recordables_.find( Name( m->obs[ k ].name ) ) == recordables_.end() )
    {
      recordables_.insert( Name( m->obs[ k ].name ), nest::DataAccessFunctor< apical_node >( *this, m->n_state + k ) );
    }
  }
  for ( size_t q = 0; q < m->n_ports; q++ )
  {
    recordables_.insert( Name( std::string( "in_" ) + m->ports[ q ].name ),
      nest::DataAccessFunctor< apical_node >( *this, m->n_state + m->n_obs + q ) );
  }
}

double
apical_node::get_state_element( size_t elem ) const
{
  const apical_cell_model* m = slot_->m;
  if ( elem < m->n_state )
  {
    return y_[ elem ];
  }
  elem -= m->n_state;
  if ( elem < m->n_obs )
  {
    return robs_[ elem ];
  }
  return in_[ elem - m->n_obs ];
}

void
apical_node::call_failed_( const char* what, int rc ) const
{
  throw nest::KernelException( std::string( "apical: " ) + what + " of " + slot_->m->name + " failed with status "
    + std::to_string( rc ) );
}

void
apical_node::init_buffers_()
{
  for ( auto& r : ring_ )
  {
    r.clear();
  }
  logger_.reset();
}

void
apical_node::pre_run_hook()
{
  logger_.init();
  h_ = nest::Time::get_resolution().get_ms();
  /* the values of the last step of a previous Simulate are delivered at
     the start of the next one: kept */
  const size_t md = nest::kernel().connection_manager.get_min_delay();
  if ( hist_.size() != md * slot_->m->n_obs )
  {
    hist_.assign( md * slot_->m->n_obs, 0.0 );
  }
  if ( sent_.size() != md )
  {
    sent_.assign( md, 0.0 );
  }
  for ( auto& r : ring_ )
  {
    r.resize();
  }
}

/*
 * One forward-Euler step per lag, as apical's engine takes it for a
 * population of one cell: the port inputs (what the connections delivered
 * for this step plus the external inputs), the state-stage observables, the
 * port-stage observables, dy/dt, y += h dy/dt.  The rate of each lag's
 * starting state is sent at the end.
 */
void
apical_node::update( const nest::Time& origin, const long from, const long to )
{
  const apical_cell_model* m = slot_->m;
  const size_t nobs = m->n_obs;
  apical_cell_ctx c = { sizeof c, 1, p_.data(), y_.data(), in_.data(), nullptr, 0 };
  int rc;
  for ( long lag = from; lag < to; ++lag )
  {
    for ( size_t q = 0; q < m->n_ports; q++ )
    {
      in_[ q ] = ring_[ q ].get_value( lag ) + ext_[ q ];
    }
    if ( ( rc = m->observe( &c, APICAL_OBS_STATE, obs_.data() ) ) != APICAL_OK )
    {
      call_failed_( "observe", rc );
    }
    if ( ( rc = m->observe( &c, APICAL_OBS_PORTS, obs_.data() ) ) != APICAL_OK )
    {
      call_failed_( "observe", rc );
    }
    if ( ( rc = m->rhs( &c, dydt_.data() ) ) != APICAL_OK )
    {
      call_failed_( "rhs", rc );
    }
    for ( size_t k = 0; k < m->n_state; k++ )
    {
      y_[ k ] += h_ * dydt_[ k ];
    }
    std::memcpy( &hist_[ lag * nobs ], obs_.data(), nobs * sizeof( double ) );
    sent_[ lag ] = obs_[ slot_->rate_obs ];
    last_lag_ = lag;
    /* recorded: the new state, its state-stage observables, and the
       port-stage observables and port inputs of the step just taken */
    robs_ = obs_;
    if ( ( rc = m->observe( &c, APICAL_OBS_STATE, robs_.data() ) ) != APICAL_OK )
    {
      call_failed_( "observe", rc );
    }
    logger_.record_data( origin.get_steps() + lag );
  }
  nest::DelayedRateConnectionEvent e;
  e.set_coeffarray( sent_ );
  nest::kernel().event_delivery_manager.send_secondary( *this, e );
}

void
apical_node::add_input( size_t q, long delay_steps, double weight, const double* v, size_t n )
{
  const long off = delay_steps - nest::kernel().connection_manager.get_min_delay();
  for ( size_t i = 0; i < n; i++ )
  {
    ring_[ q ].add_value( off + static_cast< long >( i ), weight * v[ i ] );
  }
}

/* from NEST's own rate_connection_delayed */
void
apical_node::handle( nest::DelayedRateConnectionEvent& e )
{
  const double w = e.get_weight();
  const long off = e.get_delay_steps() - nest::kernel().connection_manager.get_min_delay();
  const size_t q = e.get_rport();
  long i = 0;
  std::vector< unsigned int >::iterator it = e.begin();
  while ( it != e.end() )
  {
    ring_[ q ].add_value( off + i, w * e.get_coeffvalue( it ) );
    ++i;
  }
}

void
apical_node::handle( nest::DataLoggingRequest& e )
{
  logger_.handle( e );
}

size_t
apical_node::handles_test_event( nest::DelayedRateConnectionEvent&, size_t receptor )
{
  if ( receptor >= slot_->m->n_ports )
  {
    throw nest::UnknownReceptorType( receptor, get_name() );
  }
  return receptor;
}

size_t
apical_node::handles_test_event( nest::DataLoggingRequest& dlr, size_t receptor )
{
  if ( receptor != 0 )
  {
    throw nest::UnknownReceptorType( receptor, get_name() );
  }
  return logger_.connect_logging_device( dlr, recordables_ );
}

void
apical_node::get_status( DictionaryDatum& d ) const
{
  const apical_cell_model* m = slot_->m;
  for ( size_t i = 0; i < m->n_params; i++ )
  {
    const apical_param& a = m->params[ i ];
    size_t j = 0;
    while ( a.choices && a.choices[ j ] && static_cast< double >( j ) != p_[ i ] )
    {
      j++;
    }
    if ( a.choices && a.choices[ j ] )
    {
      def< std::string >( d, Name( a.name ), a.choices[ j ] ); // an enumerated parameter by name
    }
    else
    {
      def< double >( d, Name( a.name ), p_[ i ] );
    }
  }
  for ( size_t k = 0; k < m->n_state; k++ )
  {
    def< double >( d, Name( m->state[ k ].name ), y_[ k ] );
  }
  DictionaryDatum rt( new Dictionary );
  for ( size_t q = 0; q < m->n_ports; q++ )
  {
    def< double >( d, Name( std::string( "ext_" ) + m->ports[ q ].name ), ext_[ q ] );
    ( *rt )[ Name( m->ports[ q ].name ) ] = static_cast< long >( q );
  }
  ( *d )[ nest::names::receptor_types ] = rt;
  ( *d )[ nest::names::recordables ] = recordables_.get_list();
  def< std::string >( d, Name( "apical_model" ), m->name );
  def< std::string >( d, Name( "apical_version" ), m->version );
  def< std::string >( d, Name( "sends" ), m->obs[ slot_->rate_obs ].name );
}

void
apical_node::set_status( const DictionaryDatum& d )
{
  const apical_cell_model* m = slot_->m;
  std::vector< double > p = p_, y = y_, ext = ext_;
  for ( size_t i = 0; i < m->n_params; i++ )
  {
    const apical_param& a = m->params[ i ];
    const Name nm( a.name );
    if ( !d->known( nm ) )
    {
      continue;
    }
    double v = p[ i ];
    const Token tok = d->lookup( nm );
    const bool number =
      dynamic_cast< DoubleDatum* >( tok.datum() ) || dynamic_cast< IntegerDatum* >( tok.datum() );
    std::string s;
    if ( a.choices && !number && updateValue< std::string >( d, nm, s ) )
    {
      size_t j = 0;
      while ( a.choices[ j ] && s != a.choices[ j ] )
      {
        j++;
      }
      if ( !a.choices[ j ] )
      {
        throw nest::BadProperty( std::string( a.name ) + ": no choice named " + s );
      }
      v = static_cast< double >( j );
    }
    else
    {
      updateValue< double >( d, nm, v );
    }
    if ( !( v >= a.min && v <= a.max ) )
    {
      throw nest::BadProperty( std::string( a.name ) + " is out of its bounds" );
    }
    p[ i ] = v;
  }
  if ( m->check )
  {
    char msg[ 256 ] = "";
    if ( m->check( p.data(), msg, sizeof msg ) != APICAL_OK )
    {
      throw nest::BadProperty( std::string( m->name ) + ": " + msg );
    }
  }
  for ( size_t k = 0; k < m->n_state; k++ )
  {
    updateValue< double >( d, Name( m->state[ k ].name ), y[ k ] );
  }
  for ( size_t q = 0; q < m->n_ports; q++ )
  {
    updateValue< double >( d, Name( std::string( "ext_" ) + m->ports[ q ].name ), ext[ q ] );
  }
  p_ = p;
  y_ = y;
  ext_ = ext;
}

/* ---- registration ---- */

template < int K >
static void
register_cells( size_t n )
{
  if constexpr ( K < MAX_CELLS )
  {
    if ( static_cast< size_t >( K ) < n )
    {
      nest::kernel().model_manager.register_node_model< apical_cell< K > >( cell_slots[ K ].name );
      register_cells< K + 1 >( n );
    }
  }
}

template < int R >
struct rule_model
{
  template < typename targetidentifierT >
  using type = apical_connection< targetidentifierT, R >;
};

template < int R >
static void
register_rules( size_t n )
{
  if constexpr ( R < MAX_RULES )
  {
    if ( static_cast< size_t >( R ) < n )
    {
      nest::kernel().model_manager.register_connection_model< rule_model< R >::template type >( rule_slots[ R ].name );
      register_rules< R + 1 >( n );
    }
  }
}

static apical_registry* registry = nullptr;

static void
skipped( void*, const char* file, const char* why )
{
  std::string msg = std::string( file ) + ": " + why;
  LOG( nest::M_INFO, "apicalmodule", msg.c_str() );
}

void
register_models()
{
  if ( !registry )
  {
    registry = apical_registry_new( nullptr );
    if ( !registry )
    {
      throw nest::KernelException( "apicalmodule: cannot make apical's module registry" );
    }
    apical_registry_scan( registry, skipped, nullptr );
    apical_registry_sort( registry );
    size_t nc = 0, nr = 0;
    for ( size_t i = 0; i < apical_registry_n_cells( registry ); i++ )
    {
      const apical_cell_model* m = apical_registry_cell_at( registry, i, nullptr );
      size_t rate = find_role( m, APICAL_ROLE_RATE );
      if ( nc == MAX_CELLS || rate == SIZE_MAX || rate >= m->n_obs )
      {
        LOG( nest::M_WARNING, "apicalmodule",
          ( std::string( "cell model " ) + m->name + " not registered (no rate observable, or more than 16 cells)" )
            .c_str() );
        continue;
      }
      CellSlot& s = cell_slots[ nc++ ];
      s.m = m;
      s.name = std::string( "apical_" ) + m->name;
      s.rate_obs = rate;
      for ( size_t k = 0; k < m->n_params; k++ )
      {
        s.p0.push_back( m->params[ k ].def );
      }
    }
    for ( size_t i = 0; i < apical_registry_n_rules( registry ); i++ )
    {
      const apical_rule* r = apical_registry_rule_at( registry, i, nullptr );
      if ( nr == MAX_RULES || r->n_aux > MAX_AUX || ( APICAL_RULE_FLAGS( r ) & APICAL_RULE_NONLOCAL ) )
      {
        LOG( nest::M_WARNING, "apicalmodule",
          ( std::string( "rule " ) + r->name
            + " not registered (a non-local rule, more than 2 auxiliary variables, or more than 16 rules)" )
            .c_str() );
        continue;
      }
      RuleSlot& s = rule_slots[ nr++ ];
      s.r = r;
      s.name = std::string( "apical_" ) + r->name + "_synapse";
      for ( size_t k = 0; k < r->n_params; k++ )
      {
        s.p0.push_back( r->params[ k ].def );
      }
    }
    rule_slots[ MAX_RULES ].name = "apical_synapse";
  }
  size_t nc = 0, nr = 0;
  while ( nc < MAX_CELLS && cell_slots[ nc ].m )
  {
    nc++;
  }
  while ( nr < MAX_RULES && rule_slots[ nr ].r )
  {
    nr++;
  }
  register_cells< 0 >( nc );
  register_rules< 0 >( nr );
  nest::kernel().model_manager.register_connection_model< rule_model< MAX_RULES >::template type >(
    rule_slots[ MAX_RULES ].name );
}

class ApicalModule : public nest::NESTExtensionInterface
{
public:
  void
  initialize() override
  {
    register_models();
  }
};

} // namespace apical_nest

apical_nest::ApicalModule apicalmodule_LTX_module;
