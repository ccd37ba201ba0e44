/* SPDX-License-Identifier: MIT */
/*
 * apical_connection.h -- apical's rules as NEST connection models
 * (apical_nest.h has the overview).
 */
#ifndef APICAL_CONNECTION_H
#define APICAL_CONNECTION_H

#include <cmath>
#include <string>
#include <vector>

#include "apical_nest.h"

#include "common_synapse_properties.h"
#include "connection.h"
#include "connector_model.h"
#include "dictutils.h"
#include "kernel_manager.h"
#include "secondary_event.h"

namespace apical_nest
{

/* Per connection model: the rule's parameters and the observable the
   connections carry ("" : the source's rate). */
template < int R >
class apical_common : public nest::CommonSynapseProperties
{
public:
  std::vector< double > p;
  std::string observable;

  apical_common()
    : p( rule_slots[ R ].p0 )
  {
  }

  void
  get_status( DictionaryDatum& d ) const
  {
    nest::CommonSynapseProperties::get_status( d );
    const apical_rule* r = rule_slots[ R ].r;
    for ( size_t i = 0; r && i < r->n_params; i++ )
    {
      def< double >( d, Name( r->params[ i ].name ), p[ i ] );
    }
    def< std::string >( d, Name( "observable" ), observable );
    if ( r )
    {
      def< std::string >( d, Name( "apical_rule" ), r->name );
      def< std::string >( d, Name( "apical_version" ), r->version );
      def< std::string >( d, Name( "post_observable" ), r->post_obs ? r->post_obs : "" );
    }
  }

  void
  set_status( const DictionaryDatum& d, nest::ConnectorModel& cm )
  {
    nest::CommonSynapseProperties::set_status( d, cm );
    const apical_rule* r = rule_slots[ R ].r;
    std::vector< double > q = p;
    for ( size_t i = 0; r && i < r->n_params; i++ )
    {
      const apical_param& a = r->params[ i ];
      if ( updateValue< double >( d, Name( a.name ), q[ i ] ) && !( q[ i ] >= a.min && q[ i ] <= a.max ) )
      {
        throw nest::BadProperty( std::string( a.name ) + " is out of its bounds" );
      }
    }
    if ( r && r->check )
    {
      char msg[ 256 ] = "";
      if ( r->check( q.data(), msg, sizeof msg ) != APICAL_OK )
      {
        throw nest::BadProperty( std::string( r->name ) + ": " + msg );
      }
    }
    p = q;
    updateValue< std::string >( d, Name( "observable" ), observable );
  }
};

/* A connection between apical nodes: weight x the source's observable into
   the target's port (the receptor type); with a rule, the weight learns. */
template < typename targetidentifierT, int R >
class apical_connection : public nest::Connection< targetidentifierT >
{
public:
  typedef apical_common< R > CommonPropertiesType;
  typedef nest::Connection< targetidentifierT > ConnectionBase;
  static constexpr nest::ConnectionModelProperties properties = nest::ConnectionModelProperties::HAS_DELAY;

  apical_connection()
    : ConnectionBase()
  {
  }

  std::unique_ptr< nest::SecondaryEvent >
  get_secondary_event()
  {
    return std::make_unique< nest::DelayedRateConnectionEvent >();
  }

  using ConnectionBase::get_delay_steps;
  using ConnectionBase::get_rport;
  using ConnectionBase::get_target;

  void
  check_connection( nest::Node& s, nest::Node& t, size_t receptor_type, const CommonPropertiesType& cp )
  {
    nest::DelayedRateConnectionEvent ge;
    s.sends_secondary_event( ge );
    ge.set_sender( s );
    ConnectionBase::target_.set_rport( t.handles_test_event( ge, receptor_type ) );
    ConnectionBase::target_.set_target( &t );
    apical_node* tn = dynamic_cast< apical_node* >( &t );
    const apical_rule* r = rule_slots[ R ].r;
    if ( !cp.observable.empty() )
    {
      apical_node* sn = dynamic_cast< apical_node* >( &s );
      if ( !sn || nest::kernel().vp_manager.get_num_threads() != 1
        || nest::kernel().mpi_manager.get_num_processes() != 1 )
      {
        throw nest::IllegalConnection( "apical: a connection carrying observable '" + cp.observable
          + "' needs an apical source node in a single-threaded, single-process simulation" );
      }
      size_t k = find_obs( sn->slot()->m, cp.observable );
      if ( k == sn->slot()->m->n_obs )
      {
        throw nest::IllegalConnection(
          "apical: " + sn->slot()->name + " has no observable '" + cp.observable + "'" );
      }
      source_ = sn;
      src_obs_ = k;
    }
    if ( r )
    {
      if ( !tn )
      {
        throw nest::IllegalConnection( "apical: " + rule_slots[ R ].name + " needs an apical target node" );
      }
      const apical_cell_model* m = tn->slot()->m;
      size_t k = m->n_obs;
      const uint32_t role = APICAL_RULE_POST_ROLE( r );
      if ( role )
      {
        size_t j = find_role( m, role );
        if ( j != SIZE_MAX )
        {
          k = j;
        }
      }
      if ( k == m->n_obs && r->post_obs )
      {
        std::string want = r->post_obs;
        const std::string tag = "{port}";
        size_t at = want.find( tag );
        if ( at != std::string::npos )
        {
          want.replace( at, tag.size(), m->ports[ ConnectionBase::target_.get_rport() ].name );
        }
        k = find_obs( m, want );
      }
      if ( k == m->n_obs )
      {
        throw nest::IllegalConnection( "apical: rule " + std::string( r->name ) + " needs an observable that "
          + tn->slot()->name + " does not export at this receptor" );
      }
      post_obs_ = k;
      if ( r->n_aux > MAX_AUX )
      {
        throw nest::IllegalConnection( "apical: rule " + std::string( r->name ) + " has too many auxiliary variables" );
      }
    }
  }

  bool
  send( nest::Event& ev, size_t tid, const CommonPropertiesType& cp )
  {
    nest::DelayedRateConnectionEvent& e = static_cast< nest::DelayedRateConnectionEvent& >( ev );
    apical_node* t = static_cast< apical_node* >( get_target( tid ) );
    static thread_local std::vector< double > v;
    v.clear();
    std::vector< unsigned int >::iterator it = e.begin();
    while ( it != e.end() )
    {
      v.push_back( e.get_coeffvalue( it ) );
    }
    if ( source_ )
    {
      for ( size_t i = 0; i < v.size(); i++ )
      {
        v[ i ] = source_->sent( i, src_obs_ );
      }
    }
    const apical_rule* r = rule_slots[ R ].r;
    if ( r )
    {
      if ( v.size() != 1 || get_delay_steps() != 1 )
      {
        throw nest::KernelException( "apical: plastic connections need delay = min_delay = resolution" );
      }
      /* the rule's forward-Euler step of the step before: the target's
         observable of that step and the value delivered into it */
      const double post = t->sent( t->last_lag(), post_obs_ );
      const double h = nest::Time::get_resolution().get_ms();
      apical_rule_ctx c = { sizeof c, 1, 1, cp.p.data(), &post, &last_pre_ };
      int rc;
      if ( r->euler )
      {
        rc = r->euler( &c, h, &weight_, aux_ );
      }
      else
      {
        double dw = 0, daux[ MAX_AUX ] = { 0 };
        rc = r->dwdt( &c, &weight_, aux_, &dw, daux );
        weight_ += h * dw;
        for ( size_t a = 0; a < r->n_aux; a++ )
        {
          aux_[ a ] += h * daux[ a ];
        }
      }
      if ( rc != APICAL_OK )
      {
        throw nest::KernelException( "apical: rule " + std::string( r->name ) + " failed" );
      }
      last_pre_ = v[ 0 ];
    }
    t->add_input( get_rport(), get_delay_steps(), weight_, v.data(), v.size() );
    return true;
  }

  void
  get_status( DictionaryDatum& d ) const
  {
    ConnectionBase::get_status( d );
    def< double >( d, nest::names::weight, weight_ );
    const apical_rule* r = rule_slots[ R ].r;
    if ( r )
    {
      for ( size_t a = 0; a < r->n_aux; a++ )
      {
        def< double >( d, Name( "aux_" + std::to_string( a ) ), aux_[ a ] );
      }
      def< double >( d, Name( "last_pre" ), last_pre_ );
    }
    def< long >( d, nest::names::size_of, sizeof( *this ) );
  }

  void
  set_status( const DictionaryDatum& d, nest::ConnectorModel& cm )
  {
    ConnectionBase::set_status( d, cm );
    updateValue< double >( d, nest::names::weight, weight_ );
    const apical_rule* r = rule_slots[ R ].r;
    for ( size_t a = 0; r && a < r->n_aux; a++ )
    {
      updateValue< double >( d, Name( "aux_" + std::to_string( a ) ), aux_[ a ] );
    }
  }

  void
  set_weight( double w )
  {
    weight_ = w;
  }

private:
  double weight_ = 1.0;
  double aux_[ MAX_AUX ] = { 0.0, 0.0 };
  double last_pre_ = 0.0;
  apical_node* source_ = nullptr; // set when the observable is not the rate
  unsigned src_obs_ = 0;
  unsigned post_obs_ = 0;
};

template < typename targetidentifierT, int R >
constexpr nest::ConnectionModelProperties apical_connection< targetidentifierT, R >::properties;

} // namespace apical_nest

#endif
